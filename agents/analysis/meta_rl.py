"""Meta-RL analyses of Wang et al. 2018 ("Prefrontal cortex as a meta-
reinforcement learning system", Nat. Neurosci.) and Wang et al. 2016
("Learning to reinforcement learn"): from a trained recurrent agent with
frozen weights to the papers' numbers.

1. Recording. `rollout` runs the agent (`act(..., evaluation=True)`, weights
   only read) on N fresh episodes of a task in one compiled `lax.scan` over
   the episode's decisions, `vmap`-ed over episodes, and returns an
   `EpisodeRecord`: per decision, the observation the agent saw, its action,
   the reward that followed, and task facts read from the task's helpers on
   the state the action was taken from (`task_info`).
2. Bandits (Wang 2018 Fig. 1, Wang 2016 Fig. 2). `agent_regret` gives the
   cumulative expected regret per trial, sum_{s<=t} (max_a p_a - p_{a_s});
   `baseline_regrets` plays Thompson sampling, UCB1, the best fixed
   Rescorla-Wagner learner (its (alpha, beta) selected on separate episodes,
   then played on these) and the Bayes-optimal finite-horizon policy
   (agents/bandit_baselines.py) on the SAME episodes' arm probabilities.
   `chance_regret` is what any policy without reward information gets.
3. Harlow (Fig. 6): `harlow_accuracy_by_trial`, the fraction of correct
   choices at each trial index.
4. Two-step (Fig. 5, after Daw et al. 2011): `two_step_stays` extracts, for
   every stage-1 choice after a completed trial, whether it repeats the
   previous stage-1 action and the previous trial's reward and transition;
   `stay_probabilities` tabulates P(stay) for rewarded/unrewarded x
   common/rare; `stay_regression` fits the logistic regression
   logit P(stay) = b0 + b_r R + b_t T + b_rt R T (R, T coded +-1: rewarded,
   common), whose interaction b_rt is the model-based signature; it reports
   each coefficient's Wald z and log10 p (`log10_two_sided_p`, finite where
   p underflows). `fit_hybrid_model` fits Daw et al. 2011's hybrid learner
   (model-based weight w, learning rates, eligibility, inverse temperatures,
   perseveration) by maximum likelihood to `two_step_trials(record)`;
   `simulate_hybrid_model` plays it for parameter recovery.
5. Restless bandit (Fig. 3): `restless_learning_rates` fits a softmax
   Rescorla-Wagner model to the agent's choices by maximum likelihood
   (bandit_baselines.fit_rescorla_wagner) separately in the episodes of each
   volatility; a learning rate that grows with volatility is the result.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from agents import bandit_baselines
from agents import types
from environments import base
from environments import meta_rl_tasks
from environments import reversal_task


@struct.dataclass
class EpisodeRecord:
  """N recorded episodes; every field is [N, L, ...] (L decisions each)."""

  observation: chex.Array  # what the agent saw when acting
  action: chex.Array  # int32
  reward: chex.Array  # the reward that followed the action
  info: dict[str, Any]  # task facts from the helpers, see `task_info`
  # With `rollout(..., record_activity=True)`: the agent's outputs when
  # acting (`act`'s extras: 'value', 'logits') and 'core', its recurrent core
  # state after the step (the meta-A2C LSTM's (c, h): h produced the outputs).
  activity: dict[str, Any] | None = None


def episode_length(env: base.Environment) -> int:
  """Decisions per episode (every meta-RL task has a fixed length)."""
  if isinstance(
      env, (meta_rl_tasks.TwoArmedBandit, meta_rl_tasks.RestlessBandit)
  ):
    return env.num_trials
  if isinstance(
      env,
      (meta_rl_tasks.Harlow, meta_rl_tasks.TwoStep, reversal_task.ReversalTask),
  ):
    return 2 * env.num_trials
  raise TypeError(f"not a meta-RL task: {env!r}")


def is_meta_rl_task(env) -> bool:
  """Whether `env` is one of the meta-RL tasks this module analyses."""
  return isinstance(
      env,
      (
          meta_rl_tasks.TwoArmedBandit,
          meta_rl_tasks.RestlessBandit,
          meta_rl_tasks.Harlow,
          meta_rl_tasks.TwoStep,
      ),
  )


def frozen_task_numbers(agent, env, actor_params, key, num_episodes):
  """The headline numbers of one frozen agent on `num_episodes` episodes of
  `env` (scripts.evaluate's off-distribution evaluation): bandits the
  cumulative expected regret by trial (`regret_by_trial`, its last entry
  `final_regret`) and the mean regret per trial after trial 100
  (`regret_per_trial_after_100`, when the episode is longer); Harlow the
  accuracy by trial; two-step the stay probabilities."""
  record = rollout(agent, env, actor_params, key, num_episodes)
  if isinstance(
      env, (meta_rl_tasks.TwoArmedBandit, meta_rl_tasks.RestlessBandit)
  ):
    mean, _ = agent_regret(record)
    out = dict(regret_by_trial=mean.tolist(), final_regret=float(mean[-1]))
    out["chance_final_regret"] = float(
        chance_regret(record.info["arm_probabilities"])[-1]
    )
    if mean.size > 100:
      out["regret_per_trial_after_100"] = float(
          (mean[-1] - mean[99]) / (mean.size - 100)
      )
      out["regret_per_trial_trials_91_to_100"] = float(
          (mean[99] - mean[89]) / 10
      )
    return out
  if isinstance(env, meta_rl_tasks.Harlow):
    return dict(
        accuracy_by_trial=harlow_accuracy_by_trial(
            record, env.num_trials
        ).tolist()
    )
  return dict(stay_probabilities=stay_probabilities(**two_step_stays(record)))


def task_info(
    env: base.Environment, state: base.EnvState, action: chex.Array
) -> dict[str, chex.Array]:
  """Facts about the trial that `action`, taken from `state`, belongs to."""
  info = dict(trial_index=env.trial_index(state))
  if isinstance(
      env, (meta_rl_tasks.TwoArmedBandit, meta_rl_tasks.RestlessBandit)
  ):
    info.update(
        arm_probabilities=env.arm_probabilities(state),
        expected_regret=env.expected_regret(state, action),
    )
    if isinstance(env, meta_rl_tasks.RestlessBandit):
      info.update(
          volatility=env.volatility(state),
          volatility_index=env.volatility_index(state),
      )
  elif isinstance(env, meta_rl_tasks.Harlow):
    info.update(
        is_choice_step=env.is_choice_step(state),
        correct_action=env.correct_action(state),
    )
  elif isinstance(env, meta_rl_tasks.TwoStep):
    previous = env.previous_trial(state)
    info.update(
        is_stage1_step=env.is_stage1_step(state),
        has_previous_trial=env.has_previous_trial(state),
        previous_stage1_action=previous.stage1_action,
        previous_common=previous.common,
        previous_rewarded=previous.rewarded,
    )
  elif isinstance(env, reversal_task.ReversalTask):
    info.update(
        is_target_step=env.is_target_step(state),
        shown_target=env.shown_target(state),
        rewarded_target=env.rewarded_target(state),
        reversals=env.reversals(state),
    )
  return info


@functools.partial(jax.jit, static_argnums=(0, 1, 4, 5))
def _rollout(
    agent: types.Agent,
    env: base.Environment,
    actor_params,
    key: chex.PRNGKey,
    num_episodes: int,
    record_activity: bool = False,
) -> EpisodeRecord:
  act = jax.vmap(
      functools.partial(agent.act, evaluation=True), in_axes=(None, 0, 0, 0)
  )
  reset_key, act_key = jax.random.split(key)
  env_state, timestep = jax.vmap(env.reset)(
      jax.random.split(reset_key, num_episodes)
  )
  actor_state = jax.vmap(agent.initial_actor_state)(
      jax.random.split(jax.random.fold_in(key, 0xAC7), num_episodes)
  )

  def step(carry, step_key):
    env_state, timestep, actor_state = carry
    action, actor_state, extras = act(
        actor_params,
        actor_state,
        timestep,
        jax.random.split(step_key, num_episodes),
    )
    info = jax.vmap(functools.partial(task_info, env))(env_state, action)
    next_env_state, next_timestep = jax.vmap(env.step)(env_state, action)
    activity = dict(extras, core=actor_state.core) if record_activity else None
    out = (timestep.observation, action, next_timestep.reward, info, activity)
    return (next_env_state, next_timestep, actor_state), out

  length = episode_length(env)
  _, (observation, action, reward, info, activity) = jax.lax.scan(
      step,
      (env_state, timestep, actor_state),
      jax.random.split(act_key, length),
  )
  batch_major = lambda x: jnp.swapaxes(x, 0, 1)
  return EpisodeRecord(
      observation=batch_major(observation),
      action=batch_major(action),
      reward=batch_major(reward),
      info=jax.tree.map(batch_major, info),
      activity=jax.tree.map(batch_major, activity),
  )


def rollout(
    agent: types.Agent,
    env: base.Environment,
    actor_params: Any,
    key: chex.PRNGKey,
    num_episodes: int,
    record_activity: bool = False,
) -> EpisodeRecord:
  """Plays `num_episodes` fresh episodes with frozen weights (host copies).

  Episodes come from `env.reset` with keys derived from `key`; pass a key
  that training never used (training derives env keys from the seed) and,
  for Harlow, an env with `split='test'` for held-out objects.
  `record_activity` also records the agent's outputs and core state
  (`EpisodeRecord.activity`); the episodes and actions are the same.
  """
  record = _rollout(
      agent, env, actor_params, key, num_episodes, record_activity
  )
  return jax.device_get(record)


def task_probabilities(
    env: base.Environment, key: chex.PRNGKey, num_episodes: int
) -> np.ndarray:
  """Arm probabilities of fresh bandit episodes: [N, L, 2] per trial.

  The probabilities never depend on the actions, so a fixed action is
  played; used to select baseline parameters on episodes other than the
  evaluation ones.
  """
  length = episode_length(env)

  @jax.jit
  def run(key):
    states, _ = jax.vmap(env.reset)(jax.random.split(key, num_episodes))

    def step(states, _):
      probs = jax.vmap(env.arm_probabilities)(states)
      states, _ = jax.vmap(env.step)(
          states, jnp.zeros((num_episodes,), jnp.int32)
      )
      return states, probs

    _, probs = jax.lax.scan(step, states, None, length=length)
    return jnp.swapaxes(probs, 0, 1)

  return np.asarray(run(key))


# ---------------------------------------------------------------------------
# Bandits: regret against the baselines.
# ---------------------------------------------------------------------------


def agent_regret(record: EpisodeRecord) -> tuple[np.ndarray, np.ndarray]:
  """(mean, stderr) of the cumulative expected regret at each trial, [L]."""
  mean, stderr = bandit_baselines.cumulative_regret(
      record.info["expected_regret"]
  )
  return np.asarray(mean), np.asarray(stderr)


def chance_regret(arm_probabilities: chex.Array) -> np.ndarray:
  """Mean cumulative regret, [L], of any policy blind to rewards.

  Without reward information a policy's choice is independent of which arm
  is better, so its expected regret per trial is that of a uniform choice,
  (max_a p_a - mean_a p_a), whatever it does. `arm_probabilities` [N, L, 2].
  """
  p = np.asarray(arm_probabilities, np.float64)
  per_trial = p.max(-1) - p.mean(-1)
  return np.cumsum(per_trial, axis=1).mean(0)


def baseline_regrets(
    arm_probabilities: chex.Array,
    key: chex.PRNGKey,
    *,
    selection_probabilities: chex.Array | None = None,
    stationary: bool = True,
    include_bayes_optimal: bool = True,
    rw_alphas: chex.Array | None = None,
    rw_betas: chex.Array | None = None,
) -> dict[str, dict[str, Any]]:
  """Each baseline's cumulative regret on the given episodes.

  Args:
    arm_probabilities: [N, L, 2] per-trial arm probabilities of the agent's
      evaluation episodes (from its `EpisodeRecord`).
    key: drives the baselines' outcomes and choices.
    selection_probabilities: [M, L, 2] other episodes of the same task, on
      which the best fixed Rescorla-Wagner (alpha, beta) and the discounted
      Thompson decay are selected; defaults to the evaluation episodes (then
      in-sample, optimistic).
    stationary: the arms never change within an episode (then the baselines
      see [N, 2] probabilities); False for restless bandits.
    include_bayes_optimal: play the Bayes-optimal policy (built for
      independent uniform arms; a strong heuristic elsewhere).
    rw_alphas, rw_betas: the Rescorla-Wagner grid (default 20 learning rates
      in [0.05, 1] x 16 inverse temperatures in [1, 100], log-spaced).

  Returns:
    name -> dict(mean=[L], stderr=[L], plus the selected parameters).
  """
  probs = np.asarray(arm_probabilities, np.float32)
  horizon = probs.shape[1]
  selection = (
      probs
      if selection_probabilities is None
      else np.asarray(selection_probabilities, np.float32)
  )
  if stationary:
    probs, selection = probs[:, 0], selection[:, 0]
  keys = jax.random.split(key, 6)
  results = {}

  def curve(rollout_result, **params):
    mean, stderr = bandit_baselines.cumulative_regret(
        rollout_result.expected_regret
    )
    return dict(mean=np.asarray(mean), stderr=np.asarray(stderr), **params)

  results["thompson"] = curve(
      bandit_baselines.thompson_sampling(probs, horizon, keys[0])
  )
  results["ucb1"] = curve(bandit_baselines.ucb1(probs, horizon, keys[1]))
  best = bandit_baselines.best_fixed_rescorla_wagner(
      selection,
      horizon,
      alphas=np.linspace(0.05, 1.0, 20) if rw_alphas is None else rw_alphas,
      betas=np.geomspace(1.0, 100.0, 16) if rw_betas is None else rw_betas,
      key=keys[2],
  )
  alpha, beta = float(best.alpha), float(best.beta)
  results["best_fixed_rw"] = curve(
      bandit_baselines.rescorla_wagner(
          probs, horizon, keys[3], alpha=alpha, beta=beta
      ),
      alpha=alpha,
      beta=beta,
  )
  if not stationary:
    decays = (1.0, 0.97, 0.94, 0.9, 0.85, 0.8, 0.7)
    totals = [
        float(
            jnp.mean(
                jnp.sum(
                    bandit_baselines.thompson_sampling(
                        selection, horizon, keys[4], decay=d
                    ).expected_regret,
                    axis=1,
                )
            )
        )
        for d in decays
    ]
    decay = decays[int(np.argmin(totals))]
    results["thompson_discounted"] = curve(
        bandit_baselines.thompson_sampling(
            probs, horizon, keys[4], decay=decay
        ),
        decay=decay,
    )
  if include_bayes_optimal:
    results["bayes_optimal"] = curve(
        bandit_baselines.bayes_optimal(probs, horizon, keys[5])
    )
  return results


# ---------------------------------------------------------------------------
# Harlow.
# ---------------------------------------------------------------------------


def harlow_accuracy_by_trial(
    record: EpisodeRecord, num_trials: int
) -> np.ndarray:
  """Fraction of correct choices at each trial index, [num_trials]."""
  info = record.info
  return accuracy_by_trial(
      np.asarray(record.action),
      np.asarray(info["correct_action"]),
      np.asarray(info["trial_index"]),
      np.asarray(info["is_choice_step"]),
      num_trials,
  )


def accuracy_by_trial(
    actions, correct_actions, trial_index, is_choice, num_trials: int
) -> np.ndarray:
  """Mean of (action == correct) over choice steps, per trial index."""
  correct = np.asarray(actions) == np.asarray(correct_actions)
  is_choice = np.asarray(is_choice, bool)
  trial_index = np.asarray(trial_index)
  out = np.full(num_trials, np.nan)
  for k in range(num_trials):
    mask = is_choice & (trial_index == k)
    if mask.any():
      out[k] = correct[mask].mean()
  return out


# ---------------------------------------------------------------------------
# Two-step task.
# ---------------------------------------------------------------------------


def two_step_stays(record: EpisodeRecord) -> dict[str, np.ndarray]:
  """Flat arrays over all stage-1 choices that follow a completed trial:
  stay (repeats the previous stage-1 action), previous rewarded, previous
  common."""
  info = jax.tree.map(np.asarray, record.info)
  mask = info["has_previous_trial"].astype(bool)
  stay = np.asarray(record.action)[mask] == info["previous_stage1_action"][mask]
  return dict(
      stay=stay,
      rewarded=info["previous_rewarded"][mask].astype(bool),
      common=info["previous_common"][mask].astype(bool),
  )


STAY_CONDITIONS = (
    ("rewarded", "common"),
    ("rewarded", "rare"),
    ("unrewarded", "common"),
    ("unrewarded", "rare"),
)


def stay_probabilities(stay, rewarded, common) -> dict[str, float]:
  """P(stay) for each previous-trial condition, keys 'rewarded_common', ..."""
  stay, rewarded, common = (
      np.asarray(x, bool) for x in (stay, rewarded, common)
  )
  out = {}
  for outcome, transition in STAY_CONDITIONS:
    mask = (rewarded == (outcome == "rewarded")) & (
        common == (transition == "common")
    )
    out[f"{outcome}_{transition}"] = (
        float(stay[mask].mean()) if mask.any() else float("nan")
    )
  return out


def stay_regression(stay, rewarded, common) -> dict[str, Any]:
  """Logistic regression stay ~ reward + transition + reward:transition.

  Regressors coded +1/-1 (rewarded/unrewarded, common/rare), with an
  intercept; fitted by maximum likelihood (statsmodels Logit). Returns the
  coefficients, standard errors and two-sided Wald p-values by name
  ('intercept', 'reward', 'transition', 'reward_x_transition'). A model-free
  learner loads on 'reward'; a model-based one on 'reward_x_transition'.
  """
  import statsmodels.api as sm  # pylint: disable=g-import-not-at-top

  stay = np.asarray(stay, np.float64)
  r = np.where(np.asarray(rewarded, bool), 1.0, -1.0)
  t = np.where(np.asarray(common, bool), 1.0, -1.0)
  design = np.stack([np.ones_like(r), r, t, r * t], axis=1)
  names = ("intercept", "reward", "transition", "reward_x_transition")
  fit = sm.Logit(stay, design).fit(disp=0, method="newton", maxiter=100)
  z = np.asarray(fit.params) / np.asarray(fit.bse)
  return dict(
      coefficients=dict(zip(names, map(float, fit.params))),
      stderr=dict(zip(names, map(float, fit.bse))),
      z=dict(zip(names, map(float, z))),
      p_values=dict(zip(names, map(float, fit.pvalues))),
      log10_p_values=dict(zip(names, map(float, log10_two_sided_p(z)))),
      num_choices=int(stay.size),
  )


def log10_two_sided_p(z) -> np.ndarray:
  """log10 of the two-sided normal p-value 2 P(Z > |z|), computed in log
  space (scipy.stats.norm.logsf), so it stays finite where p underflows to 0
  (z = 40 gives -349.4)."""
  import scipy.stats  # pylint: disable=g-import-not-at-top

  z = np.abs(np.asarray(z, np.float64))
  return (np.log(2.0) + scipy.stats.norm.logsf(z)) / np.log(10.0)


# ---------------------------------------------------------------------------
# Restless bandit.
# ---------------------------------------------------------------------------


def restless_learning_rates(
    record: EpisodeRecord, volatilities: tuple[float, ...]
) -> dict[str, dict[str, float]]:
  """Rescorla-Wagner (alpha, beta) fitted to the agent's choices, per
  volatility: keys are the volatilities as strings."""
  index = np.asarray(record.info["volatility_index"])
  if index.ndim == 2:  # [N, L] -> the episode's (constant) index
    index = index[:, 0]
  out = {}
  for i, volatility in enumerate(volatilities):
    episodes = index == i
    if not episodes.any():
      continue
    fit = bandit_baselines.fit_rescorla_wagner(
        np.asarray(record.action)[episodes],
        np.asarray(record.reward)[episodes],
        num_arms=2,
    )
    out[str(volatility)] = dict(
        alpha=fit.alpha,
        beta=fit.beta,
        negative_log_likelihood=fit.negative_log_likelihood,
        episodes=int(episodes.sum()),
    )
  return out


def restless_learning_rates_from_data(
    choices, rewards, volatility_index, volatilities
) -> dict[str, float]:
  """Fitted alpha per volatility from raw [N, L] choices/rewards."""
  record = EpisodeRecord(
      observation=np.zeros(np.shape(choices) + (1,)),
      action=choices,
      reward=rewards,
      info=dict(volatility_index=np.asarray(volatility_index)),
  )
  return {
      k: v["alpha"]
      for k, v in restless_learning_rates(record, volatilities).items()
  }


# ---------------------------------------------------------------------------
# Two-step: the hybrid model-based / model-free learner of Daw et al. 2011.
# ---------------------------------------------------------------------------

HYBRID_PARAMETERS = ("w", "alpha1", "alpha2", "lambda", "beta1", "beta2", "p")


class TwoStepTrials(NamedTuple):
  """Every trial of N episodes, each [N, T]."""

  stage1_action: np.ndarray  # int, a1 in {0, 1}
  stage2_state: np.ndarray  # int, 0 = A (common after a1 = 0), 1 = B
  stage2_action: np.ndarray | None  # int; None: the task has no such choice
  reward: np.ndarray  # float, the trial's outcome


def two_step_trials(record: EpisodeRecord) -> TwoStepTrials:
  """The trials of recorded two-step episodes (decisions alternate stage 1,
  stage 2). This task's stage-2 action changes nothing, so `stage2_action`
  is None (the model's beta2 is then not identifiable and not fitted)."""
  is_stage1 = np.asarray(record.info["is_stage1_step"]).astype(bool)
  length = is_stage1.shape[1]
  if length % 2 or not np.all(is_stage1 == (np.arange(length) % 2 == 0)):
    raise ValueError("two-step decisions must alternate stage 1, stage 2")
  observation = np.asarray(record.observation)
  stage2_state = (
      np.argmax(observation[:, 1::2, :3], axis=-1) - meta_rl_tasks.STATE_A
  )
  return TwoStepTrials(
      stage1_action=np.asarray(record.action)[:, 0::2].astype(np.int32),
      stage2_state=stage2_state.astype(np.int32),
      stage2_action=None,
      reward=np.asarray(record.reward)[:, 1::2].astype(np.float32),
  )


def _hybrid_natural(theta):
  """Unconstrained [7] -> (w, alpha1, alpha2, lambda in (0, 1); beta1, beta2
  > 0; p real)."""
  return dict(
      w=jax.nn.sigmoid(theta[0]),
      alpha1=jax.nn.sigmoid(theta[1]),
      alpha2=jax.nn.sigmoid(theta[2]),
      **{"lambda": jax.nn.sigmoid(theta[3])},
      beta1=jnp.exp(theta[4]),
      beta2=jnp.exp(theta[5]),
      p=theta[6],
  )


def _hybrid_step(params, common_probability, q, previous, trial):
  """One trial of the hybrid learner: (log P(a1), log P(a2)) and the new
  values. q = (q1 [2] model-free stage-1 values, q2 [2, K] stage-2 values);
  `previous` is the last stage-1 action (-1 before the first trial)."""
  q1, q2 = q
  a1, s2, a2, r = trial
  best = jnp.max(q2, axis=1)  # [2] value of each stage-2 state
  transition = jnp.array(
      [
          [common_probability, 1.0 - common_probability],
          [1.0 - common_probability, common_probability],
      ]
  )
  q_mb = transition @ best  # Q_MB(a) = sum_s P(s | a) max_a' Q2(s, a')
  q_net = params["w"] * q_mb + (1.0 - params["w"]) * q1
  repeat = (jnp.arange(2) == previous).astype(q_net.dtype)
  log_p1 = jax.nn.log_softmax(params["beta1"] * (q_net + params["p"] * repeat))
  log_p2 = jax.nn.log_softmax(params["beta2"] * q2[s2])
  # SARSA(lambda) on the visited states (Daw et al. 2011, Supplement).
  delta1 = q2[s2, a2] - q1[a1]
  q1 = q1.at[a1].add(params["alpha1"] * delta1)
  delta2 = r - q2[s2, a2]
  q2 = q2.at[s2, a2].add(params["alpha2"] * delta2)
  q1 = q1.at[a1].add(params["alpha1"] * params["lambda"] * delta2)
  return (q1, q2), log_p1[a1], log_p2[a2]


def _initial_values(num_stage2_actions: int):
  return (jnp.zeros(2), jnp.zeros((2, num_stage2_actions)))


def _trial_arrays(trials: TwoStepTrials):
  a2 = (
      np.zeros_like(trials.stage1_action)
      if trials.stage2_action is None
      else trials.stage2_action
  )
  return tuple(
      jnp.asarray(x)
      for x in (trials.stage1_action, trials.stage2_state, a2, trials.reward)
  )


@functools.partial(jax.jit, static_argnums=(3,))
def _hybrid_nll(theta, arrays, common_probability, num_stage2_actions):
  params = _hybrid_natural(theta)

  def episode(a1, s2, a2, r):
    def step(carry, trial):
      q, previous = carry
      q, log_p1, log_p2 = _hybrid_step(
          params, common_probability, q, previous, trial
      )
      return (q, trial[0]), log_p1 + log_p2

    carry = (_initial_values(num_stage2_actions), jnp.int32(-1))
    _, log_p = jax.lax.scan(step, carry, (a1, s2, a2, r))
    return jnp.sum(log_p)

  return -jnp.sum(jax.vmap(episode)(*arrays))


_hybrid_nll_and_grad = jax.jit(
    jax.value_and_grad(_hybrid_nll), static_argnums=(3,)
)


def fit_hybrid_model(
    trials: TwoStepTrials,
    common_probability: float,
    key: chex.PRNGKey,
    num_starts: int = 6,
) -> dict[str, Any]:
  """Maximum-likelihood fit of Daw et al. 2011's hybrid learner.

  The model (Daw, Gershman, Seymour, Dayan & Dolan 2011, Neuron 69, and its
  Supplement; the analysis Wang et al. 2018 applied to their agent): model-
  free SARSA(lambda) values Q_MF(a1) and Q2(s2, a2) (learning rates alpha1,
  alpha2, eligibility lambda, all reset to 0 at each episode's start); the
  model-based value Q_MB(a) = sum_s P(s | a) max_a' Q2(s, a') with the
  task's known transition matrix; stage-1 choice softmax with inverse
  temperature beta1 over w Q_MB + (1 - w) Q_MF + p [a = previous a1]
  (perseveration p); stage-2 choice softmax beta2 over Q2(s2, .). w = 1 is
  purely model-based, w = 0 purely model-free.

  The negative log likelihood sums over every trial of every episode
  (`_hybrid_nll`, jitted with its gradient); scipy's L-BFGS minimises it
  over unconstrained parameters (sigmoid for w, alphas and lambda, exp for
  the betas) from `num_starts` starting points drawn from `key`; the best
  fit is returned. When the task has no stage-2 choice (`stage2_action`
  None) beta2 leaves the likelihood and is reported as None.

  Returns:
    dict of the parameters (HYBRID_PARAMETERS), negative_log_likelihood,
    num_trials, starts (each start's NLL) and converged.
  """
  import scipy.optimize  # pylint: disable=g-import-not-at-top

  arrays = _trial_arrays(trials)
  k = 1 if trials.stage2_action is None else 2
  p_common = float(common_probability)

  def objective(theta):
    value, grad = _hybrid_nll_and_grad(
        jnp.asarray(theta, jnp.float32), arrays, p_common, k
    )
    return float(value), np.asarray(grad, np.float64)

  starts = np.array(
      jax.random.uniform(key, (num_starts, 7), minval=-1.5, maxval=1.5)
  )
  starts[:, 4] += 1.0  # beta1 around e ~ 2.7 (0.6 .. 12)
  if k == 1:
    starts[:, 5] = 0.0  # beta2 does not enter the likelihood
  fits = []
  for theta0 in starts:
    result = scipy.optimize.minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options=dict(maxiter=500),
    )
    fits.append(result)
  best = min(fits, key=lambda r: r.fun if np.isfinite(r.fun) else np.inf)
  natural = {
      name: float(v) for name, v in _hybrid_natural(jnp.asarray(best.x)).items()
  }
  if k == 1:
    natural["beta2"] = None
  return dict(
      natural,
      negative_log_likelihood=float(best.fun),
      num_trials=int(np.size(trials.stage1_action)),
      starts=[float(r.fun) for r in fits],
      converged=bool(best.success),
  )


def simulate_hybrid_model(
    params: dict[str, float],
    num_episodes: int,
    num_trials: int,
    key: chex.PRNGKey,
    *,
    common_probability: float = 0.8,
    reward_probabilities: tuple[float, float] = (0.9, 0.1),
    swap_probability: float = 0.025,
    num_stage2_actions: int = 1,
) -> TwoStepTrials:
  """Trials of the hybrid learner (`fit_hybrid_model`'s model) playing the
  two-step task of environments/meta_rl_tasks.TwoStep (the better stage-2
  state rewards with reward_probabilities[0], swapping with
  swap_probability per trial); for parameter-recovery checks."""
  natural = {k: jnp.float32(v) for k, v in params.items() if v is not None}
  natural.setdefault("beta2", jnp.float32(1.0))
  better_p, worse_p = reward_probabilities

  def episode(episode_key):
    def step(carry, step_key):
      q, previous, better = carry
      k1, k2, k3, k4, k5 = jax.random.split(step_key, 5)
      # The choice probabilities do not depend on the trial's outcome.
      q1, q2 = q
      best = jnp.max(q2, axis=1)
      transition = jnp.array(
          [
              [common_probability, 1.0 - common_probability],
              [1.0 - common_probability, common_probability],
          ]
      )
      q_net = natural["w"] * (transition @ best) + (1.0 - natural["w"]) * q1
      repeat = (jnp.arange(2) == previous).astype(q_net.dtype)
      a1 = jax.random.categorical(
          k1, natural["beta1"] * (q_net + natural["p"] * repeat)
      )
      common = jax.random.bernoulli(k2, common_probability)
      s2 = jnp.where(common, a1, 1 - a1)
      a2 = jax.random.categorical(k3, natural["beta2"] * q2[s2])
      r = jax.random.bernoulli(
          k4, jnp.where(s2 == better, better_p, worse_p)
      ).astype(jnp.float32)
      q, _, _ = _hybrid_step(
          natural, common_probability, q, previous, (a1, s2, a2, r)
      )
      swap = jax.random.bernoulli(k5, swap_probability)
      better = jnp.where(swap, 1 - better, better)
      return (q, a1, better), (a1, s2, a2, r)

    start_key, trial_key = jax.random.split(episode_key)
    carry = (
        _initial_values(num_stage2_actions),
        jnp.int32(-1),
        jax.random.randint(start_key, (), 0, 2),
    )
    _, out = jax.lax.scan(step, carry, jax.random.split(trial_key, num_trials))
    return out

  a1, s2, a2, r = jax.device_get(
      jax.jit(jax.vmap(episode))(jax.random.split(key, num_episodes))
  )
  return TwoStepTrials(
      stage1_action=np.asarray(a1, np.int32),
      stage2_state=np.asarray(s2, np.int32),
      stage2_action=None if num_stage2_actions == 1 else np.asarray(a2),
      reward=np.asarray(r, np.float32),
  )
