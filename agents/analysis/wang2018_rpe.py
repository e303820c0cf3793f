"""Wang et al. 2018 Figs. 4 and 5: the meta-RL agent's reward prediction
errors reflect inferred (model-based) values.

Papers:
  J. X. Wang et al. "Prefrontal cortex as a meta-reinforcement learning
  system". Nature Neuroscience 21 (2018), Figs. 4 and 5.
  E. S. Bromberg-Martin, M. Matsumoto, S. Hong, O. Hikosaka. "A pallidus-
  habenula-dopamine pathway signals inferred stimulus values". J.
  Neurophysiol. 104 (2010) (the reversal task, Fig. 4).
  N. D. Daw, S. J. Gershman, B. Seymour, P. Dayan, R. J. Dolan. "Model-based
  influences on humans' choices and striatal prediction errors". Neuron 69
  (2011) (the two-step task; model-free TD(lambda) and model-based values).

The agent's reward prediction error is its critic's TD error (`td_errors`),
computed from a frozen-weight recording (`meta_rl.rollout(...,
record_activity=True)`) with V_t = V(h_t), the value output at decision t,
and r_t the reward that followed action t:
  delta_t = r_t + gamma V_{t+1} - V_t,   delta_{L-1} = r_{L-1} - V_{L-1}
(an episode terminates after its last decision; gamma is the agent's own
discount, config.gamma). At a step that only precedes a cue (the reversal
task's fixation, the two-step task's stage 1, reward 0) delta_t is the
prediction error at the cue's onset, gamma V(cue) - V(before); at the step
that precedes an outcome it is the prediction error at the outcome.

Fig. 4 (`reversal_analysis`, task environments/reversal_task.py). Every
trial shows one target; one target is rewarded, and the contingency
reverses without a signal. Around every reversal whose previous block lasted
at least `min_block` trials and which is followed by at least two trials of
the new contingency: trial 1 is the first trial after the reversal, trial 2
the next; trial 2 is "inferred" when its target differs from trial 1's (not
seen since the reversal, its new value can only be inferred) and
"experienced" otherwise. For each group, the measure m (the value V at
target onset, or the onset TD error) is split by the target's NEW value:
  effect = mean m(now rewarded) - mean m(now unrewarded).
The old values predict effect < 0; the new values effect > 0. The inferred-
value effect is trial 2 "inferred"'s effect, tested with Welch's t over
events per seed and reported over seeds; `inference_index` divides it by the
same contrast on settled trials (>= `min_block` trials into a block), so 1
means full inference. The model-free control is a tabular TD(0) learner
(Rescorla-Wagner on the targets: one cached value per state, fixation and
each target; learning rate chosen to predict the outcomes best) run on the
same trials (`td0_reversal`): it changes a target's value only when it
experiences that target, so its inferred effect is negative by
construction (-1 with learning rate 1).

Fig. 5 (`two_step_analysis`, the two-step task). The agent's TD error at the
second-stage onset (stage 1's delta) and at the outcome (stage 2's delta)
are split by the trial's transition (common / rare) and reward. Two
reference learners, fitted to nothing but run on the agent's own trials
(Daw et al. 2011's forms, `two_step_model_rpes`): stage-2 values Q2(s) by a
delta rule; model-free stage-1 values by TD(lambda = 1) (SARSA), model-based
ones from the known transitions, Q_MB(a) = 0.8 Q2(common(a)) + 0.2
Q2(rare(a)). Their onset RPEs are Q2(s2) - Q(a1). The agent's onset TD
error is regressed on the two (z-scored, with an intercept): the
standardised weights say which values the agent's RPE follows; the learning
rate is the one whose Q2 best predicts the outcomes on the agent's trials.
The two learners share Q2 and their stage-1 values agree on average
(Q_MF(a) tracks the rewards after a, mostly from its common state), so
their onset RPEs are strongly correlated (`regressor_correlation`); the
transition split alone cannot tell them apart, the regression's weights
(and their standard errors) can only as far as that correlation allows.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import stats

ALPHA_GRID = tuple(np.round(np.linspace(0.05, 1.0, 20), 3))


def td_errors(values, rewards, gamma: float) -> np.ndarray:
  """delta_t = r_t + gamma V_{t+1} - V_t over whole episodes, [N, L].

  values[:, t] is V(h_t) at decision t, rewards[:, t] the reward after
  action t; the episode terminates after its last decision (V_L = 0).
  """
  v = np.asarray(values, np.float64)
  r = np.asarray(rewards, np.float64)
  following = np.concatenate([v[:, 1:], np.zeros_like(v[:, :1])], axis=1)
  return r + gamma * following - v


def _welch(a, b) -> dict[str, float]:
  a, b = np.asarray(a, float), np.asarray(b, float)
  if a.size < 2 or b.size < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
    return dict(t=float("nan"), p=float("nan"))  # no test possible
  t, p = stats.ttest_ind(a, b, equal_var=False)
  return dict(t=float(t), p=float(p))


# ---------------------------------------------------------------------------
# Fig. 4: the reversal task.
# ---------------------------------------------------------------------------


def reversal_trials(record, gamma: float) -> dict[str, np.ndarray]:
  """Per trial [N, T]: shown and rewarded target, outcome, and the agent's
  value at target onset and TD errors at onset and outcome."""
  info = record.info
  delta = td_errors(record.activity["value"], record.reward, gamma)
  value = np.asarray(record.activity["value"])
  # Decisions alternate fixation (even) and target (odd) steps.
  return dict(
      shown=np.asarray(info["shown_target"])[:, 1::2],
      rewarded=np.asarray(info["rewarded_target"])[:, 1::2],
      outcome=np.asarray(record.reward)[:, 1::2],
      onset_value=value[:, 1::2],
      onset_rpe=delta[:, 0::2],
      outcome_rpe=delta[:, 1::2],
  )


def reversal_events(rewarded, min_block: int = 3):
  """(episode, trial) indices of trial 1 of every usable reversal.

  A reversal at trial j (rewarded[j] != rewarded[j - 1]) is usable when the
  previous `min_block` trials had one contingency and trial j + 1 has the
  new one.
  """
  rewarded = np.asarray(rewarded)
  n, trials = rewarded.shape
  episodes, starts = [], []
  for j in range(min_block, trials - 1):
    previous = rewarded[:, j - min_block : j]
    ok = (
        (rewarded[:, j] != rewarded[:, j - 1])
        & np.all(previous == previous[:, :1], axis=1)
        & (rewarded[:, j + 1] == rewarded[:, j])
    )
    idx = np.nonzero(ok)[0]
    episodes.append(idx)
    starts.append(np.full(idx.size, j))
  return np.concatenate(episodes), np.concatenate(starts)


def settled_mask(rewarded, min_block: int = 3) -> np.ndarray:
  """[N, T]: the contingency has held for the trial and the `min_block`
  trials before it."""
  rewarded = np.asarray(rewarded)
  mask = np.zeros(rewarded.shape, bool)
  for j in range(min_block, rewarded.shape[1]):
    window = rewarded[:, j - min_block : j + 1]
    mask[:, j] = np.all(window == window[:, :1], axis=1)
  return mask


def reversal_effects(trials, measure: str, min_block: int = 3):
  """The contrasts of one measure ('onset_value', 'onset_rpe', ...)."""
  m = np.asarray(trials[measure])
  shown, rewarded = trials["shown"], trials["rewarded"]
  now_rewarded = shown == rewarded
  episode, start = reversal_events(rewarded, min_block)
  second = start + 1
  inferred = shown[episode, second] != shown[episode, start]
  groups = dict(
      trial_1=(episode, start, np.ones_like(inferred)),
      trial_2_experienced=(episode, second, ~inferred),
      trial_2_inferred=(episode, second, inferred),
  )
  out: dict[str, Any] = {}
  for name, (e, t, keep) in groups.items():
    e, t = e[keep], t[keep]
    good = m[e, t][now_rewarded[e, t]]
    bad = m[e, t][~now_rewarded[e, t]]
    out[name] = dict(
        now_rewarded=float(np.mean(good)) if good.size else float("nan"),
        now_unrewarded=float(np.mean(bad)) if bad.size else float("nan"),
        effect=(
            float(np.mean(good) - np.mean(bad))
            if good.size and bad.size
            else float("nan")
        ),
        events=int(e.size),
        welch=_welch(good, bad),
    )
  settled = settled_mask(rewarded, min_block)
  good = m[settled & now_rewarded]
  bad = m[settled & ~now_rewarded]
  out["settled"] = dict(
      now_rewarded=float(np.mean(good)),
      now_unrewarded=float(np.mean(bad)),
      effect=float(np.mean(good) - np.mean(bad)),
      events=int(good.size + bad.size),
  )
  out["inference_index"] = (
      out["trial_2_inferred"]["effect"] / out["settled"]["effect"]
  )
  return out


def td0_reversal(shown, outcome, alpha: float, gamma: float):
  """A tabular TD(0) (Rescorla-Wagner) learner on the reversal trials.

  States: fixation and the two targets, values from 0 at each episode's
  start. Per trial: at fixation delta = gamma V(target) - V(fix); at the
  target delta = r + gamma V(fix) - V(target) (r alone after the last
  trial); each value moves by alpha * its delta. Returns [N, T] arrays
  'onset_value' (V(target) when shown), 'onset_rpe', 'outcome_rpe'.
  """
  shown = np.asarray(shown)
  outcome = np.asarray(outcome, np.float64)
  n, trials = shown.shape
  v_fix = np.zeros(n)
  v_target = np.zeros((n, 2))
  rows = np.arange(n)
  out = {k: np.zeros((n, trials)) for k in ("onset_value", "onset_rpe")}
  out["outcome_rpe"] = np.zeros((n, trials))
  for j in range(trials):
    target = shown[:, j]
    v = v_target[rows, target]
    onset = gamma * v - v_fix
    out["onset_value"][:, j] = v
    out["onset_rpe"][:, j] = onset
    v_fix = v_fix + alpha * onset
    following = gamma * v_fix if j + 1 < trials else 0.0
    delta = outcome[:, j] + following - v
    out["outcome_rpe"][:, j] = delta
    v_target[rows, target] = v + alpha * delta
  return out


def best_td0_alpha(shown, outcome, gamma: float, grid=ALPHA_GRID) -> float:
  """The learning rate whose outcome prediction errors are smallest."""
  losses = [
      np.mean(td0_reversal(shown, outcome, a, gamma)["outcome_rpe"] ** 2)
      for a in grid
  ]
  return float(grid[int(np.argmin(losses))])


def reversal_analysis(record, gamma: float, min_block: int = 3):
  """The agent's and the TD(0) learner's Fig. 4 contrasts on one record."""
  trials = reversal_trials(record, gamma)
  alpha = best_td0_alpha(trials["shown"], trials["outcome"], gamma)
  model = td0_reversal(trials["shown"], trials["outcome"], alpha, gamma)
  model.update(shown=trials["shown"], rewarded=trials["rewarded"])
  out = dict(agent={}, td0={}, td0_alpha=alpha)
  for measure in ("onset_value", "onset_rpe"):
    out["agent"][measure] = reversal_effects(trials, measure, min_block)
    out["td0"][measure] = reversal_effects(model, measure, min_block)
  return out


# ---------------------------------------------------------------------------
# Fig. 5: the two-step task.
# ---------------------------------------------------------------------------


def two_step_trials(record, gamma: float) -> dict[str, np.ndarray]:
  """Per trial [N, T]: stage-1 action, common, stage-2 state, rewarded, and
  the agent's TD errors at the second-stage onset and at the outcome."""
  delta = td_errors(record.activity["value"], record.reward, gamma)
  action1 = np.asarray(record.action)[:, 0::2]
  stage2_obs = np.asarray(record.observation)[:, 1::2]
  state2 = np.argmax(stage2_obs[..., 1:], axis=-1)  # 0 = A, 1 = B
  return dict(
      action1=action1,
      state2=state2,
      common=state2 == action1,
      rewarded=np.asarray(record.reward)[:, 1::2] > 0,
      onset_rpe=delta[:, 0::2],
      outcome_rpe=delta[:, 1::2],
  )


def two_step_model_rpes(
    action1,
    state2,
    rewarded,
    alpha: float,
    common_probability: float = 0.8,
    lam: float = 1.0,
):
  """Daw et al. 2011's model-free and model-based RPEs on given trials.

  Q2(s) (stage-2 values) and Q_MF(a) start at 0.5 in each episode. Trial:
    onset:   delta1_MF = Q2(s2) - Q_MF(a1);  delta1_MB = Q2(s2) - Q_MB(a1),
             Q_MB(a) = p Q2(a) + (1 - p) Q2(1 - a)  (a -> state a is common)
    Q_MF(a1) += alpha delta1_MF
    outcome: delta2 = r - Q2(s2);  Q2(s2) += alpha delta2;
             Q_MF(a1) += alpha lam delta2
  Returns [N, T] 'onset_mf', 'onset_mb', 'outcome'.
  """
  action1 = np.asarray(action1)
  state2 = np.asarray(state2)
  r = np.asarray(rewarded, np.float64)
  n, trials = action1.shape
  rows = np.arange(n)
  q2 = np.full((n, 2), 0.5)
  q_mf = np.full((n, 2), 0.5)
  out = {k: np.zeros((n, trials)) for k in ("onset_mf", "onset_mb", "outcome")}
  p = common_probability
  for j in range(trials):
    a, s = action1[:, j], state2[:, j]
    v2 = q2[rows, s]
    q_mb = p * q2[rows, a] + (1 - p) * q2[rows, 1 - a]
    d1 = v2 - q_mf[rows, a]
    out["onset_mf"][:, j] = d1
    out["onset_mb"][:, j] = v2 - q_mb
    q_mf[rows, a] += alpha * d1
    d2 = r[:, j] - v2
    out["outcome"][:, j] = d2
    q2[rows, s] = v2 + alpha * d2
    q_mf[rows, a] += alpha * lam * d2
  return out


def rpe_regression(agent_rpe, regressors: dict[str, np.ndarray]):
  """OLS of the agent's RPE on z-scored regressors (+ intercept):
  standardised weights, their standard errors, and each regressor's R^2
  alone."""
  y = np.asarray(agent_rpe, np.float64).ravel()
  names = list(regressors)
  z = [np.asarray(regressors[k], np.float64).ravel() for k in names]
  z = [(x - x.mean()) / (x.std() + 1e-12) for x in z]
  design = np.stack([np.ones_like(y)] + z, axis=1)
  beta, *_ = np.linalg.lstsq(design, y, rcond=None)
  residual = y - design @ beta
  sigma2 = residual @ residual / (y.size - design.shape[1])
  se = np.sqrt(np.diag(sigma2 * np.linalg.pinv(design.T @ design)))
  total = np.sum((y - y.mean()) ** 2)
  r2_alone = {k: float(np.corrcoef(x, y)[0, 1] ** 2) for k, x in zip(names, z)}
  out = dict(
      weights={k: float(b) for k, b in zip(names, beta[1:])},
      stderr={k: float(s) for k, s in zip(names, se[1:])},
      r2=float(1.0 - residual @ residual / total),
      r2_alone=r2_alone,
  )
  if len(z) == 2:  # how separable the two regressors are on these trials
    out["regressor_correlation"] = float(np.corrcoef(z[0], z[1])[0, 1])
  return out


def _split(values, rewarded, common):
  out = {}
  for outcome in ("rewarded", "unrewarded"):
    for transition in ("common", "rare"):
      mask = (rewarded == (outcome == "rewarded")) & (
          common == (transition == "common")
      )
      out[f"{outcome}_{transition}"] = (
          float(np.mean(values[mask])) if mask.any() else float("nan")
      )
  return out


def two_step_analysis(record, gamma: float, common_probability: float = 0.8):
  """The agent's and the reference learners' RPE splits and the regression
  of the agent's onset RPE on the model-based and model-free ones."""
  trials = two_step_trials(record, gamma)
  grid_losses = [
      np.mean(
          two_step_model_rpes(
              trials["action1"],
              trials["state2"],
              trials["rewarded"],
              a,
              common_probability,
          )["outcome"]
          ** 2
      )
      for a in ALPHA_GRID
  ]
  alpha = float(ALPHA_GRID[int(np.argmin(grid_losses))])
  models = two_step_model_rpes(
      trials["action1"],
      trials["state2"],
      trials["rewarded"],
      alpha,
      common_probability,
  )
  common, rewarded = trials["common"], trials["rewarded"]
  onset = {
      name: dict(
          common=float(np.mean(x[common])), rare=float(np.mean(x[~common]))
      )
      for name, x in (
          ("agent", trials["onset_rpe"]),
          ("model_based", models["onset_mb"]),
          ("model_free", models["onset_mf"]),
      )
  }
  outcome = {
      "agent": _split(trials["outcome_rpe"], rewarded, common),
      "model": _split(models["outcome"], rewarded, common),
  }
  regression = rpe_regression(
      trials["onset_rpe"],
      dict(model_based=models["onset_mb"], model_free=models["onset_mf"]),
  )
  return dict(
      alpha=alpha,
      onset_rpe=onset,
      outcome_rpe=outcome,
      onset_regression=regression,
      onset_rare_minus_common={
          k: v["rare"] - v["common"] for k, v in onset.items()
      },
  )


# ---------------------------------------------------------------------------
# Over training seeds.
# ---------------------------------------------------------------------------


def _records(agent, env, params_per_seed, key, num_episodes):
  from agents.analysis import meta_rl  # pylint: disable=g-import-not-at-top

  for params in params_per_seed:
    yield meta_rl.rollout(
        agent, env, params, key, num_episodes, record_activity=True
    )


def reversal_experiment(
    agent,
    env,
    params_per_seed: Sequence[Any],
    key,
    num_episodes: int,
    gamma: float,
    min_block: int = 3,
) -> dict[str, Any]:
  """Fig. 4 for every training seed, on the same held-out episodes.

  Returns 'per_seed' (`reversal_analysis` of each seed) and
  'inferred_effect_across_seeds': the one-sample t-test over seeds of the
  agent's trial-2 "inferred" onset-RPE effect against 0 (and how many seeds
  have it positive).
  """
  per_seed = [
      reversal_analysis(record, gamma, min_block)
      for record in _records(agent, env, params_per_seed, key, num_episodes)
  ]
  effects = [
      s["agent"]["onset_rpe"]["trial_2_inferred"]["effect"] for s in per_seed
  ]
  t, p = stats.ttest_1samp(effects, 0.0) if len(effects) > 1 else (np.nan,) * 2
  return dict(
      min_block=min_block,
      gamma=gamma,
      num_episodes=num_episodes,
      per_seed=per_seed,
      inferred_effect_across_seeds=dict(
          t=float(t),
          p=float(p),
          seeds_positive=int(np.sum(np.asarray(effects) > 0)),
          seeds=len(effects),
      ),
  )


def two_step_rpe_experiment(
    agent,
    env,
    params_per_seed: Sequence[Any],
    key,
    num_episodes: int,
    gamma: float,
) -> dict[str, Any]:
  """Fig. 5's RPEs for every training seed, on the same held-out episodes:
  'per_seed' holds each seed's `two_step_analysis`."""
  per_seed = [
      two_step_analysis(record, gamma, env.common_probability)
      for record in _records(agent, env, params_per_seed, key, num_episodes)
  ]
  return dict(gamma=gamma, num_episodes=num_episodes, per_seed=per_seed)


# ---------------------------------------------------------------------------
# Headlines and figures (the reproduction's rows).
# ---------------------------------------------------------------------------


def _mean_sd(stats_dict) -> str:
  return f"{stats_dict['mean']:.3f} +- {stats_dict['sd']:.3f}"


def reversal_headline(result) -> str:
  """The agent's and TD(0)'s trial-2 inferred onset-RPE effect and index."""
  agent = result["across_seeds"]["agent"]["onset_rpe"]
  td0 = result["across_seeds"]["td0"]["onset_rpe"]
  test = result["inferred_effect_across_seeds"]
  return (
      "onset RPE, now-rewarded minus now-unrewarded target: trial 1 "
      f"{_mean_sd(agent['trial_1']['effect'])}, trial 2 inferred "
      f"{_mean_sd(agent['trial_2_inferred']['effect'])} (seeds "
      + ", ".join(
          f"{v:.3f}" for v in agent["trial_2_inferred"]["effect"]["values"]
      )
      + f"; t {test['t']:.1f}, p {test['p']:.2g}, positive on "
      f"{test['seeds_positive']} of {test['seeds']}), experienced "
      f"{_mean_sd(agent['trial_2_experienced']['effect'])}; inference index "
      f"{_mean_sd(agent['inference_index'])} (TD(0): "
      f"{_mean_sd(td0['inference_index'])})"
  )


def two_step_rpe_headline(result) -> str:
  """Weights of the model-based and model-free onset RPEs on the agent's."""
  s = result["across_seeds"]
  w = s["onset_regression"]["weights"]
  r2 = s["onset_regression"]["r2_alone"]
  onset = s["onset_rpe"]["agent"]
  return (
      f"onset RPE ~ MB + MF: weight MB {_mean_sd(w['model_based'])}, MF "
      f"{_mean_sd(w['model_free'])}; R^2 alone MB "
      f"{_mean_sd(r2['model_based'])}, MF {_mean_sd(r2['model_free'])}; "
      f"agent onset RPE common {_mean_sd(onset['common'])}, rare "
      f"{_mean_sd(onset['rare'])}"
  )


_GROUPS = ("trial_1", "trial_2_experienced", "trial_2_inferred", "settled")


def reversal_figure(writer, task, result, summary) -> None:
  """DIR/<task>_rpe.png: the onset RPE (and value) for the now-rewarded and
  now-unrewarded target by trial after the reversal, agent vs TD(0); each
  seed a dot, bars the mean."""
  del summary
  per_seed = result["per_seed"]
  fig, axes = writer.subplots(1, 3, figsize=(12, 3.8))
  x = np.arange(len(_GROUPS))
  for ax, (learner, measure) in zip(
      axes,
      (("agent", "onset_rpe"), ("agent", "onset_value"), ("td0", "onset_rpe")),
  ):
    for offset, side, color in (
        (-0.2, "now_rewarded", "tab:green"),
        (0.2, "now_unrewarded", "tab:gray"),
    ):
      values = np.array(
          [[s[learner][measure][g][side] for g in _GROUPS] for s in per_seed]
      )
      ax.bar(
          x + offset,
          np.nanmean(values, 0),
          0.4,
          color=color,
          alpha=0.6,
          label=side.replace("_", " "),
      )
      for row in values:
        ax.plot(x + offset, row, "o", color="k", ms=2.5)
    ax.set_xticks(x, ["trial 1", "2: seen", "2: inferred", "settled"])
    ax.set_title(f"{learner}: {measure.replace('_', ' ')}", fontsize=9)
    ax.axhline(0.0, color="0.5", lw=0.6)
  axes[0].legend(fontsize=7)
  fig.suptitle(
      f"Fig. 4: reversal task ({len(per_seed)} seeds); trial 2 'inferred' "
      "shows the target not seen since the reversal",
      fontsize=9,
  )
  writer.save(fig, f"{task}_rpe.png")


def two_step_rpe_figure(writer, task, result, summary) -> None:
  """DIR/<task>.png: onset RPE by transition (agent, model-based, model-
  free), outcome RPE by reward x transition, and the regression weights;
  each seed a dot."""
  del summary
  per_seed = result["per_seed"]
  fig, axes = writer.subplots(1, 3, figsize=(12, 3.8))
  names = ("agent", "model_based", "model_free")
  for i, name in enumerate(names):
    for j, transition in enumerate(("common", "rare")):
      values = [s["onset_rpe"][name][transition] for s in per_seed]
      xpos = i * 3 + j
      axes[0].bar(
          xpos,
          np.mean(values),
          color="tab:blue" if transition == "common" else "tab:red",
          alpha=0.6,
          label=transition if i == 0 else None,
      )
      axes[0].plot([xpos] * len(values), values, "o", color="k", ms=2.5)
  axes[0].set_xticks([0.5, 3.5, 6.5], ["agent", "model-based", "model-free"])
  axes[0].set_title("RPE at the second-stage onset", fontsize=9)
  axes[0].legend(fontsize=7)
  conditions = list(per_seed[0]["outcome_rpe"]["agent"])
  for i, name in enumerate(("agent", "model")):
    values = np.array(
        [[s["outcome_rpe"][name][c] for c in conditions] for s in per_seed]
    )
    xpos = np.arange(len(conditions)) + i * 0.4 - 0.2
    axes[1].bar(xpos, values.mean(0), 0.4, alpha=0.6, label=name)
    for row in values:
      axes[1].plot(xpos, row, "o", color="k", ms=2.5)
  axes[1].set_xticks(
      np.arange(len(conditions)), [c.replace("_", "\n") for c in conditions]
  )
  axes[1].set_title("RPE at the outcome", fontsize=9)
  axes[1].legend(fontsize=7)
  for i, name in enumerate(("model_based", "model_free")):
    values = [s["onset_regression"]["weights"][name] for s in per_seed]
    axes[2].bar(i, np.mean(values), alpha=0.6, color=f"C{i + 2}")
    axes[2].plot([i] * len(values), values, "o", color="k", ms=2.5)
  axes[2].set_xticks([0, 1], ["model-based", "model-free"])
  axes[2].set_title(
      "agent's onset RPE ~ both (standardised weights)", fontsize=9
  )
  for ax in axes:
    ax.axhline(0.0, color="0.5", lw=0.6)
  fig.suptitle(
      f"Fig. 5: two-step prediction errors ({len(per_seed)} seeds)", fontsize=9
  )
  writer.save(fig, f"{task}.png")
