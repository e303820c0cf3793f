"""Wang et al. 2018 Fig. 2: the recurrent units code action and reward history.

Papers:
  J. X. Wang et al. "Prefrontal cortex as a meta-reinforcement learning
  system". Nature Neuroscience 21 (2018), Fig. 2.
  K.-I. Tsutsui, F. Grabenhorst, S. Kobayashi, W. Schultz. "A dynamic code
  for economic object valuation in prefrontal cortex neurons". Nature
  Communications 7 (2016) (regression of PFC neurons on past actions,
  rewards and their interaction; population decoding).

From a trained bandit meta-A2C agent with frozen weights, the LSTM's output
h_t is recorded over held-out episodes (`meta_rl.rollout(...,
record_activity=True)`); h_t is the activity that produces the choice on
trial t, computed after the agent has seen a_{t-1} and r_{t-1}.

1. Single units (`unit_regression`). For every unit u and every trial
   t >= K (K = `lags`) of every episode, ordinary least squares
     h_t[u] = b0 + b_T t/L + sum_{k=1..K} (b_a,k A_{t-k} + b_r,k R_{t-k}
              + b_ar,k A_{t-k} R_{t-k}) + e
   with A = +1 / -1 for arm 1 / arm 0 and R = +1 / -1 for rewarded /
   unrewarded (so the interaction A R is +1 when arm 1 was rewarded or arm
   0 unrewarded: "which arm is good"); t/L (the trial index the agent sees)
   is a nuisance regressor. Rows of one episode are not independent (the
   activity and the choices are autocorrelated), so the coefficients'
   standard errors are cluster-robust with the episode as the cluster
   (sandwich estimator, small-sample factor G/(G-1) (n-1)/(n-P)), and
   p-values are two-sided from Student's t with G - 1 degrees of freedom
   (G episodes). Multiple comparisons: Holm-Bonferroni over the whole
   family of one network's tests (units x 3K history coefficients), so the
   chance of any false "coding" unit in a network is at most `alpha`. A
   unit codes a regressor when that coefficient survives the correction;
   the result is the fraction of units coding each regressor at each lag.
   With the reproduction's 1000 held-out episodes (~95k rows) the test
   detects very small partial effects, so the fractions stay high at every
   lag (a stationary bandit's evidence is the whole history); the graded
   measure is the decoding accuracy below.
2. Population decoding (`decode_history`). For each lag k, A_{t-k},
   R_{t-k} and A_{t-k} R_{t-k} are decoded from the whole population h_t
   by a linear (least-squares, ridge) classifier on standardised features
   (`decode_cross_validated`), cross-validated over `folds` folds of whole
   episodes (no episode is in both the training and the test set).
   Accuracy is on the held-out folds; chance is the held-out accuracy of
   always guessing the training folds' majority class.

`units_experiment` runs both for every training seed's agent (each seed's
numbers; the reproduction adds mean +- sd over seeds), and on the same
network at initialisation as a control (a random LSTM also carries its
inputs' recent history); `figure` draws Fig. 2's panels (`plot_units`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import stats

REGRESSORS = ("action", "reward", "action_x_reward")


def history_regressors(actions, rewards, lags: int) -> dict[str, np.ndarray]:
  """A_{t-k}, R_{t-k}, A_{t-k} R_{t-k} (+-1) for trials t >= lags.

  Args:
    actions: [N, L] int, arm chosen on each trial (0 or 1).
    rewards: [N, L] reward that followed (> 0 is rewarded).
    lags: K.

  Returns:
    name -> [N, L - K, K] with names REGRESSORS; [..., k - 1] is lag k.
  """
  a = np.where(np.asarray(actions) > 0, 1.0, -1.0)
  r = np.where(np.asarray(rewards) > 0, 1.0, -1.0)
  length = a.shape[1]
  if length <= lags:
    raise ValueError(f"episodes of {length} trials have no trial >= {lags}")
  lagged = lambda x: np.stack(
      [x[:, lags - k : length - k] for k in range(1, lags + 1)], -1
  )
  la, lr = lagged(a), lagged(r)
  return dict(action=la, reward=lr, action_x_reward=la * lr)


def _design(actions, rewards, lags):
  """[N, L-K, P] design: intercept, t/L, then the 3K history regressors."""
  history = history_regressors(actions, rewards, lags)
  n, rows, _ = history["action"].shape
  length = rows + lags
  trial = np.broadcast_to(
      (np.arange(lags, length) / length)[None, :, None], (n, rows, 1)
  )
  columns = [np.ones((n, rows, 1)), trial] + [history[k] for k in REGRESSORS]
  return np.concatenate(columns, -1)


def holm_reject(p_values, alpha: float) -> np.ndarray:
  """Holm-Bonferroni over all entries of `p_values`: reject (same shape)."""
  p = np.asarray(p_values, np.float64)
  flat = p.ravel()
  m = flat.size
  order = np.argsort(flat, kind="stable")
  thresholds = alpha / (m - np.arange(m))
  passed = flat[order] <= thresholds
  # Reject the smallest ones up to the first that fails.
  num = m if passed.all() else int(np.argmin(passed))
  reject = np.zeros(m, bool)
  reject[order[:num]] = True
  return reject.reshape(p.shape)


def unit_regression(
    activity, actions, rewards, lags: int = 5, alpha: float = 0.05
) -> dict[str, Any]:
  """Each unit's activity regressed on the action and reward history.

  Args:
    activity: [N, L, U] unit activity on each trial of N episodes.
    actions, rewards: [N, L].
    lags: K, the history length.
    alpha: family-wise error rate of the Holm-Bonferroni correction.

  Returns:
    dict: 'coefficients', 't', 'p_values', 'coding' as name -> [U, K]
    arrays (coding: the corrected test rejects), 'fraction_coding' name ->
    [K] (the fraction of units coding that regressor at each lag), and
    'num_rows', 'num_episodes'.
  """
  y = np.asarray(activity, np.float64)[:, lags:, :]
  x = _design(actions, rewards, lags)
  groups, rows, p = x.shape
  units = y.shape[-1]
  n = groups * rows
  xf, yf = x.reshape(n, p), y.reshape(n, units)
  xtx_inv = np.linalg.pinv(xf.T @ xf)
  beta = xtx_inv @ xf.T @ yf  # [P, U]
  residual = (yf - xf @ beta).reshape(groups, rows, units)
  scores = np.einsum("grp,gru->gpu", x, residual)  # X_g' e_g per unit
  meat = np.einsum("gpu,gqu->upq", scores, scores)
  scale = groups / (groups - 1) * (n - 1) / (n - p)
  cov = scale * np.einsum("pa,uab,bq->upq", xtx_inv, meat, xtx_inv)
  se = np.sqrt(np.maximum(np.einsum("upp->up", cov), 1e-300))
  t = beta.T / se  # [U, P]
  p_values = 2.0 * stats.t.sf(np.abs(t), df=groups - 1)
  history = slice(2, p)  # the 3K history coefficients
  reject = holm_reject(p_values[:, history], alpha)
  out: dict[str, Any] = dict(
      coefficients={}, t={}, p_values={}, coding={}, fraction_coding={}
  )
  for i, name in enumerate(REGRESSORS):
    cols = slice(2 + i * lags, 2 + (i + 1) * lags)
    out["coefficients"][name] = beta.T[:, cols]
    out["t"][name] = t[:, cols]
    out["p_values"][name] = p_values[:, cols]
    coding = reject[:, i * lags : (i + 1) * lags]
    out["coding"][name] = coding
    out["fraction_coding"][name] = coding.mean(0)
  out["num_rows"] = n
  out["num_episodes"] = groups
  return out


def decode_cross_validated(
    features, labels, folds: int = 5, ridge: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
  """(accuracy [M], chance [M]) of linear decoders over folds of episodes.

  One least-squares (ridge) classifier per label column: on the training
  folds, features are standardised and w, b minimise
  sum_i (s_i - x_i w - b)^2 + ridge |w|^2 with s = +1 / -1 for True /
  False; the decoded label is x w + b > 0 (for two classes this is Fisher's
  linear discriminant up to its threshold). All labels share one solve per
  fold.

  Args:
    features: [N, R, D] per episode and row.
    labels: [N, R, M] bool, M variables to decode.
    folds: folds of whole episodes (needs N >= folds).
    ridge: the L2 penalty (on standardised features).
  """
  features = np.asarray(features, np.float64)
  labels = np.asarray(labels, bool)
  n, _, d = features.shape
  if n < folds:
    raise ValueError(f"{n} episodes cannot make {folds} folds")
  fold_of = np.arange(n) % folds
  correct = np.zeros(labels.shape[-1])
  chance = np.zeros(labels.shape[-1])
  total = 0
  for f in range(folds):
    train, test = fold_of != f, fold_of == f
    xtr = features[train].reshape(-1, d)
    ytr = labels[train].reshape(-1, labels.shape[-1])
    xte = features[test].reshape(-1, d)
    yte = labels[test].reshape(-1, labels.shape[-1])
    mean, sd = xtr.mean(0), xtr.std(0) + 1e-8
    ztr, zte = (xtr - mean) / sd, (xte - mean) / sd
    target = np.where(ytr, 1.0, -1.0)
    bias = target.mean(0)
    w = np.linalg.solve(
        ztr.T @ ztr + ridge * np.eye(d), ztr.T @ (target - bias)
    )
    correct += np.sum((zte @ w + bias > 0) == yte, axis=0)
    chance += np.sum(yte == (ytr.mean(0) >= 0.5), axis=0)
    total += yte.shape[0]
  return correct / total, chance / total


def decode_history(
    activity, actions, rewards, lags: int = 5, folds: int = 5
) -> dict[str, Any]:
  """Cross-validated decoding of each history variable at each lag.

  Returns:
    'accuracy' and 'chance': name -> [K] (names REGRESSORS; lag k at k-1).
  """
  history = history_regressors(actions, rewards, lags)
  features = np.asarray(activity, np.float64)[:, lags:, :]
  labels = np.concatenate([history[k] > 0 for k in REGRESSORS], -1)
  accuracy, chance = decode_cross_validated(features, labels, folds)
  out: dict[str, Any] = dict(accuracy={}, chance={})
  for i, name in enumerate(REGRESSORS):
    out["accuracy"][name] = accuracy[i * lags : (i + 1) * lags]
    out["chance"][name] = chance[i * lags : (i + 1) * lags]
  return out


def hidden_activity(record) -> np.ndarray:
  """h_t [N, L, U] of a meta-A2C recording (the LSTM core is (c, h))."""
  if record.activity is None:
    raise ValueError("record has no activity: rollout(record_activity=True)")
  return np.asarray(record.activity["core"][1])


def units_experiment(
    agent,
    env,
    params_per_seed: Sequence[Any],
    key,
    num_episodes: int,
    lags: int = 5,
    alpha: float = 0.05,
    folds: int = 5,
    untrained_params_per_seed: Sequence[Any] | None = None,
) -> dict[str, Any]:
  """Regression and decoding for every seed's frozen bandit agent.

  The same held-out episodes (`key`) for every seed. Returns 'per_seed'
  (each seed's fraction of coding units and decoding accuracy and chance,
  name -> [K] by lag) and the method's settings; the reproduction's runner
  adds the mean and sd over seeds. `untrained_params_per_seed` (the same
  network at initialisation, one per seed) adds the control 'untrained':
  a random recurrent network also carries its inputs' history, so the
  trained network's coding is read against it.
  """
  from agents.analysis import meta_rl  # pylint: disable=g-import-not-at-top

  def measure(params):
    record = meta_rl.rollout(
        agent, env, params, key, num_episodes, record_activity=True
    )
    activity = hidden_activity(record)
    regression = unit_regression(
        activity, record.action, record.reward, lags, alpha
    )
    decoding = decode_history(
        activity, record.action, record.reward, lags, folds
    )
    as_lists = lambda d: {k: [float(x) for x in v] for k, v in d.items()}
    return dict(
        fraction_coding=as_lists(regression["fraction_coding"]),
        decoding_accuracy=as_lists(decoding["accuracy"]),
        decoding_chance=as_lists(decoding["chance"]),
        num_units=int(activity.shape[-1]),
        num_rows=int(regression["num_rows"]),
    )

  per_seed = []
  for i, params in enumerate(params_per_seed):
    numbers = measure(params)
    if untrained_params_per_seed is not None:
      numbers["untrained"] = measure(untrained_params_per_seed[i])
    per_seed.append(numbers)
  return dict(
      lags=lags,
      alpha=alpha,
      correction="Holm-Bonferroni over units x 3K coefficients per network",
      standard_errors="cluster-robust by episode, Student t with G-1 df",
      decoder="ridge least-squares classifier, folds of whole episodes",
      folds=folds,
      num_episodes=num_episodes,
      per_seed=per_seed,
  )


def headline(result) -> str:
  """One line: each regressor's fraction of coding units at lag 1 and K
  and its decoding accuracy at lag 1, mean +- sd over seeds."""
  s = result["across_seeds"]
  k = result["lags"]
  parts = []
  for name in REGRESSORS:
    f = s["fraction_coding"][name]
    d = s["decoding_accuracy"][name]
    parts.append(
        f"{name} units {f['mean'][0]:.2f}+-{f['sd'][0]:.2f} (lag 1), "
        f"{f['mean'][-1]:.2f}+-{f['sd'][-1]:.2f} (lag {k}), decoded "
        f"{d['mean'][0]:.2f}+-{d['sd'][0]:.2f} (lag 1)"
    )
  untrained = s.get("untrained")
  if untrained:
    d = untrained["decoding_accuracy"]
    parts.append(
        "untrained control decoded "
        + ", ".join(
            f"{name} {d[name]['mean'][0]:.2f}/{d[name]['mean'][-1]:.2f}"
            for name in REGRESSORS
        )
        + f" (lag 1/{k})"
    )
  return "; ".join(parts)


def figure(writer, task, result, summary) -> None:
  """DIR/<task>_units.png: Fig. 2's two panels (`plot_units`)."""
  del summary
  fig, (left, right) = writer.subplots(1, 2, figsize=(9, 4))
  plot_units(left, right, result)
  fig.suptitle(
      f"Fig. 2: LSTM units of the bandit agent "
      f"({len(result['per_seed'])} seeds)",
      fontsize=9,
  )
  writer.save(fig, f"{task}_units.png")


def plot_units(ax_fraction, ax_decoding, result) -> None:
  """Fraction of coding units and decoding accuracy vs lag: each seed's
  value as a dot, the mean over seeds as a line."""
  per_seed = result["per_seed"]
  lags = np.arange(1, result["lags"] + 1)
  colors = dict(
      action="tab:blue", reward="tab:red", action_x_reward="tab:purple"
  )
  for ax, measure in (
      (ax_fraction, "fraction_coding"),
      (ax_decoding, "decoding_accuracy"),
  ):
    for name in REGRESSORS:
      values = np.asarray([s[measure][name] for s in per_seed])  # [S, K]
      ax.plot(lags, values.mean(0), "o-", color=colors[name], label=name)
      for row in values:
        ax.plot(lags, row, ".", color=colors[name], alpha=0.6)
    ax.set_xlabel("trials back (lag)")
    ax.set_xticks(lags)
  for name in REGRESSORS:
    chance = np.mean([s["decoding_chance"][name] for s in per_seed], 0)
    ax_decoding.plot(lags, chance, ":", color=colors[name])
    if "untrained" in per_seed[0]:
      for ax, measure in (
          (ax_fraction, "fraction_coding"),
          (ax_decoding, "decoding_accuracy"),
      ):
        control = np.mean([s["untrained"][measure][name] for s in per_seed], 0)
        ax.plot(lags, control, "x--", color=colors[name], lw=0.8)
  ax_fraction.set_ylabel("fraction of units coding")
  ax_fraction.set_ylim(-0.02, 1.02)
  ax_fraction.set_title(
      f"single units (Holm, family-wise alpha {result['alpha']}; x: "
      "untrained)",
      fontsize=9,
  )
  ax_fraction.legend(fontsize=7)
  ax_decoding.set_ylabel("decoding accuracy (held-out episodes)")
  ax_decoding.set_ylim(0.4, 1.02)
  ax_decoding.set_title(
      "population decoding (dotted: chance; x: untrained net)", fontsize=9
  )
