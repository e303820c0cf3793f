"""Classical bandit algorithms that learn no weights: meta-RL comparison set.

Wang et al., "Learning to reinforcement learn" (2016) and "Prefrontal cortex as
a meta-reinforcement learning system" (Nat. Neurosci. 2018) compare a trained
LSTM on two-armed Bernoulli bandits (100 trials per episode) with Thompson
sampling, UCB1, the best fixed Rescorla-Wagner learner and the Bayes-optimal
(Gittins) policy. Those baselines live here, written in JAX: `lax.scan` over
trials, `vmap` over episodes, `jit` over the whole batch, every function a pure
function of one explicit `jax.random` key.

Conventions shared by every policy
----------------------------------
* `probs` holds each episode's arm reward probabilities, shape
  (num_episodes, num_arms) for a stationary bandit, or
  (num_episodes, horizon, num_arms) for a restless bandit whose probabilities
  change from trial to trial (values are assumed to lie in [0, 1]).
* The key is split once into an outcome key and a policy key. The outcome key
  draws a reward tape u[e, t, a] ~ U(0, 1); pulling arm a at trial t of episode
  e pays r = 1{u[e, t, a] < p[e, t, a]}. Two policies called with the same key
  therefore face the same outcomes (common random numbers), so paired
  comparisons between them have lower variance. The policy key drives the
  policy's own randomness (posterior samples, softmax draws, tie-breaking).
* Every policy returns a `BanditRollout` of (num_episodes, horizon) arrays:
  `choices`, `rewards` and `expected_regret[e, t] = max_a p[e, t, a] -
  p[e, t, choice]` (the expected, or pseudo-, regret: the realised reward's
  noise is left out). For a restless bandit the regret at trial t is measured
  against that trial's best arm.
* `cumulative_regret(expected_regret)` gives the mean over episodes of
  sum_{s <= t} regret_s at each trial index t, and its standard error.
* The public functions are thin, traceable wrappers: they broadcast stationary
  `probs` to (num_episodes, horizon, num_arms) and call a jitted core
  (`horizon` static), so stationary and restless inputs of the same size share
  one compilation, and callers may jit or vmap them further.

The algorithms, with their equations mapped to code
---------------------------------------------------
1. Thompson sampling (Thompson 1933, Biometrika 25; for Bernoulli arms see
   Agrawal & Goyal 2012, COLT). `thompson_sampling`.
   Arm a's posterior is Beta(1 + S_a, 1 + F_a) (Beta(1, 1) = uniform prior):
     choose: theta_a ~ Beta(1 + S_a, 1 + F_a),  a_t = argmax_a theta_a
     update: S <- gamma S + r_t e_{a_t},  F <- gamma F + (1 - r_t) e_{a_t}
   gamma = `decay`. gamma = 1 is the exact posterior for stationary arms.
   gamma < 1 is discounted Thompson sampling (Raj & Kalyani 2017, "Taming
   non-stationary bandits: a Bayesian approach"): every trial, the pseudo-counts
   of ALL arms (chosen or not) shrink toward the Beta(1, 1) prior by gamma, so
   evidence has an effective memory of about 1 / (1 - gamma) trials. This is
   "Thompson sampling with a fixed assumed volatility" for the restless bandit.
2. UCB1 (Auer, Cesa-Bianchi & Fischer 2002, Machine Learning 47, Fig. 1).
   `ucb1`. Play every arm once (untried arms have an infinite index; which
   untried arm goes first is drawn at random), then
     a_t = argmax_a  mean_a + sqrt(2 ln n / n_a),
   n = number of plays so far (= the 0-based trial index t), n_a = plays of a,
   mean_a = average reward of a. Exact ties are broken uniformly at random.
3. Rescorla-Wagner (Rescorla & Wagner 1972), the delta rule on the chosen arm:
     Q_{a_t} <- Q_{a_t} + alpha * (r_t - Q_{a_t})   (`rescorla_wagner_values`)
   (unchosen arms keep their values; Q starts at `initial_value`, default 0.5),
   with a softmax choice P(a) = exp(beta Q_a) / sum_b exp(beta Q_b) (beta is the
   inverse temperature) or epsilon-greedy choice. `rescorla_wagner` plays it;
   `best_fixed_rescorla_wagner` grid-searches the (alpha, beta) of the softmax
   learner with the lowest mean total regret on a set of episodes ("the best
   fixed RW learner" of Wang et al. 2018); `fit_rescorla_wagner` fits (alpha,
   beta) to observed choices by maximum likelihood (as in Daw 2011, "Trial-by-
   trial data analysis using computational models"), NLL = -sum_t log P(a_t).
4. The Bayes-optimal finite-horizon policy for two Bernoulli arms with
   independent uniform priors (Bellman 1956, "A problem in the sequential
   design of experiments"; Berry & Fristedt 1985, "Bandit Problems", ch. 5-6;
   Gittins 1979 gives the index form for the discounted infinite horizon).
   `build_bayes_optimal_table`, `bayes_optimal`,
   `bayes_optimal_expected_reward`. The state is the count vector
   x = (s1, f1, s2, f2), t = s1 + f1 + s2 + f2; the posterior mean of arm a is
   p_a(x) = (s_a + 1) / (s_a + f_a + 2). With horizon H:
     V_H(x) = 0
     Q_t(x, a) = p_a (1 + V_{t+1}(x + success_a))
                 + (1 - p_a) V_{t+1}(x + failure_a)
     V_t(x) = max_a Q_t(x, a),  action_t(x) = argmax_a Q_t(x, a).
   V_0(0) is the largest expected total reward any policy can get when
   (p1, p2) ~ U[0,1]^2 independently. Because E[max(p1, p2)] = 2/3, the
   policy's expected regret is 2H/3 - V_0(0), a lower bound on the expected
   regret, averaged over that prior, of ANY policy (the trained agent
   included). It is not a lower bound on each bandit instance, nor under other
   task distributions (dependent arms p2 = 1 - p1, fixed easy/hard pairs,
   restless arms), where this policy is merely a strong heuristic.
   Ties (|Q_t(x, 0) - Q_t(x, 1)| <= 1e-9, e.g. every symmetric state, the root
   included) are stored as `TIE` and broken uniformly at random when played.

Table layout (Bayes-optimal): the decision states of layer t (t = 0..H-1) are
stored contiguously, layer after layer; within layer t, in row-major order of
(n1, s1, s2) with n1 = s1 + f1 in 0..t, s1 in 0..n1, s2 in 0..t - n1. The flat
index of x is block_offsets[t, n1] + s1 * (t - n1 + 1) + s2. There are
C(H + 3, 4) decision states (4.4M for H = 100); the DP sweeps t from H - 1
down to 0, one vectorised numpy pass over a dense (t+1)^3 grid per layer.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, NamedTuple, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax import lax

# Action code in the Bayes-optimal table: both arms are optimal.
TIE = 2
# Absolute tolerance under which two action values count as tied.
_TIE_TOLERANCE = 1e-9


class BanditRollout(NamedTuple):
  """A batch of played bandit episodes; each field (num_episodes, horizon)."""

  choices: chex.Array  # int32, the arm pulled at each trial.
  rewards: chex.Array  # float32, 0 or 1.
  expected_regret: chex.Array  # float32, max_a p_t[a] - p_t[choice].


# ---------------------------------------------------------------------------
# Shared machinery: probabilities per trial, reward tape, one scan per episode.
# ---------------------------------------------------------------------------


def _probs_per_trial(probs: chex.Array, horizon: int) -> chex.Array:
  """(E, K) or (E, H, K) probabilities -> (E, H, K) float32."""
  probs = jnp.asarray(probs, jnp.float32)
  if probs.ndim == 2:
    num_episodes, num_arms = probs.shape
    return jnp.broadcast_to(
        probs[:, None, :], (num_episodes, horizon, num_arms)
    )
  if probs.ndim == 3:
    if probs.shape[1] != horizon:
      raise ValueError(
          f"time-varying probs have {probs.shape[1]} trials, horizon is "
          f"{horizon}"
      )
    return probs
  raise ValueError(
      "probs must be (num_episodes, num_arms) or (num_episodes, horizon, "
      f"num_arms); got shape {probs.shape}"
  )


def _random_argmax(key: chex.PRNGKey, values: chex.Array) -> chex.Array:
  """Index of a maximum of a 1-D array, ties broken uniformly at random."""
  is_max = values == jnp.max(values)
  return jax.random.categorical(key, jnp.where(is_max, 0.0, -jnp.inf))


# choose(agent_state, trial_index, key) -> arm;
# update(agent_state, arm, reward, trial_index) -> agent_state.
ChooseFn = Callable[[chex.ArrayTree, chex.Array, chex.PRNGKey], chex.Array]
UpdateFn = Callable[
    [chex.ArrayTree, chex.Array, chex.Array, chex.Array], chex.ArrayTree
]


def _simulate(
    choose: ChooseFn,
    update: UpdateFn,
    init_state: chex.ArrayTree,
    probs: chex.Array,
    horizon: int,
    key: chex.PRNGKey,
) -> BanditRollout:
  """Plays `choose`/`update`: `lax.scan` over trials, `vmap` over episodes."""
  probs_per_trial = _probs_per_trial(probs, horizon)
  num_episodes = probs_per_trial.shape[0]
  outcome_key, policy_key = jax.random.split(key)
  # The reward tape: what each arm would pay at each trial of each episode.
  outcomes = (
      jax.random.uniform(outcome_key, probs_per_trial.shape) < probs_per_trial
  ).astype(jnp.float32)
  episode_keys = jax.random.split(policy_key, num_episodes)

  def play_episode(episode_outcomes, episode_key):
    def trial(agent_state, inputs):
      trial_index, trial_outcomes, trial_key = inputs
      arm = choose(agent_state, trial_index, trial_key).astype(jnp.int32)
      reward = trial_outcomes[arm]
      return update(agent_state, arm, reward, trial_index), (arm, reward)

    inputs = (
        jnp.arange(horizon, dtype=jnp.int32),
        episode_outcomes,
        jax.random.split(episode_key, horizon),
    )
    _, (arms, rewards) = lax.scan(trial, init_state, inputs)
    return arms, rewards

  choices, rewards = jax.vmap(play_episode)(outcomes, episode_keys)
  chosen_probs = jnp.take_along_axis(
      probs_per_trial, choices[..., None], axis=-1
  )[..., 0]
  expected_regret = jnp.max(probs_per_trial, axis=-1) - chosen_probs
  chex.assert_shape(
      [choices, rewards, expected_regret], (num_episodes, horizon)
  )
  return BanditRollout(choices, rewards, expected_regret)


def cumulative_regret(
    expected_regret: chex.Array,
) -> tuple[chex.Array, chex.Array]:
  """Mean over episodes of the cumulative regret at each trial, and its s.e.m.

  Args:
    expected_regret: (num_episodes, horizon) per-trial regret, e.g.
      `BanditRollout.expected_regret`.

  Returns:
    (mean, stderr), each (horizon,): mean[t] = mean_e sum_{s<=t} regret[e, s];
    stderr[t] = std_e(...) / sqrt(num_episodes) (sample std, ddof = 1; NaN for
    a single episode).
  """
  expected_regret = jnp.asarray(expected_regret, jnp.float32)
  chex.assert_rank(expected_regret, 2)
  per_episode = jnp.cumsum(expected_regret, axis=1)
  num_episodes = per_episode.shape[0]
  mean = jnp.mean(per_episode, axis=0)
  stderr = jnp.std(per_episode, axis=0, ddof=1) / jnp.sqrt(num_episodes)
  return mean, stderr


# ---------------------------------------------------------------------------
# 1. Thompson sampling (optionally discounted, for restless bandits).
# ---------------------------------------------------------------------------


def thompson_sampling(
    probs: chex.Array,
    horizon: int,
    key: chex.PRNGKey,
    decay: float | chex.Array = 1.0,
) -> BanditRollout:
  """Thompson sampling with Beta(1, 1) priors on every arm.

  Args:
    probs: (num_episodes, num_arms) or (num_episodes, horizon, num_arms).
    horizon: trials per episode.
    key: jax.random key (outcome tape + posterior samples).
    decay: gamma in (0, 1]; each trial all success/failure pseudo-counts are
      multiplied by gamma (forgetting toward the prior; assumed volatility).
      1.0 (default) is the exact stationary posterior.

  Returns:
    BanditRollout with (num_episodes, horizon) fields.
  """
  return _thompson_sampling(
      _probs_per_trial(probs, horizon), horizon, key, decay
  )


@functools.partial(jax.jit, static_argnames=("horizon",))
def _thompson_sampling(probs, horizon, key, decay):
  num_arms = jnp.shape(probs)[-1]

  def choose(counts, trial_index, trial_key):
    del trial_index
    successes, failures = counts
    theta = jax.random.beta(trial_key, 1.0 + successes, 1.0 + failures)
    return jnp.argmax(theta)

  def update(counts, arm, reward, trial_index):
    del trial_index
    successes, failures = counts
    pulled = jax.nn.one_hot(arm, num_arms)
    return (
        decay * successes + reward * pulled,
        decay * failures + (1.0 - reward) * pulled,
    )

  init_counts = (jnp.zeros(num_arms), jnp.zeros(num_arms))
  return _simulate(choose, update, init_counts, probs, horizon, key)


# ---------------------------------------------------------------------------
# 2. UCB1.
# ---------------------------------------------------------------------------


def ucb1(probs: chex.Array, horizon: int, key: chex.PRNGKey) -> BanditRollout:
  """UCB1 (Auer et al. 2002): each arm once, then mean + sqrt(2 ln n / n_a).

  Args:
    probs: (num_episodes, num_arms) or (num_episodes, horizon, num_arms).
    horizon: trials per episode.
    key: jax.random key (outcome tape + random tie-breaking).

  Returns:
    BanditRollout with (num_episodes, horizon) fields.
  """
  return _ucb1(_probs_per_trial(probs, horizon), horizon, key)


@functools.partial(jax.jit, static_argnames=("horizon",))
def _ucb1(probs, horizon, key):
  num_arms = jnp.shape(probs)[-1]

  def choose(stats, trial_index, trial_key):
    pulls, reward_sums = stats
    safe_pulls = jnp.maximum(pulls, 1.0)
    plays_so_far = jnp.maximum(trial_index, 1).astype(jnp.float32)
    index = reward_sums / safe_pulls + jnp.sqrt(
        2.0 * jnp.log(plays_so_far) / safe_pulls
    )
    index = jnp.where(pulls == 0, jnp.inf, index)
    return _random_argmax(trial_key, index)

  def update(stats, arm, reward, trial_index):
    del trial_index
    pulls, reward_sums = stats
    return pulls.at[arm].add(1.0), reward_sums.at[arm].add(reward)

  init_stats = (jnp.zeros(num_arms), jnp.zeros(num_arms))
  return _simulate(choose, update, init_stats, probs, horizon, key)


# ---------------------------------------------------------------------------
# 3. Rescorla-Wagner: play, best fixed parameters, maximum-likelihood fit.
# ---------------------------------------------------------------------------


def _rescorla_wagner_rollout(
    probs, horizon, key, alpha, beta, epsilon, initial_value
):
  """Un-jitted body of `rescorla_wagner` (vmapped by the grid search too)."""
  if (beta is None) == (epsilon is None):
    raise ValueError(
        "give exactly one of beta (softmax) or epsilon " "(epsilon-greedy)"
    )
  num_arms = jnp.shape(probs)[-1]

  def choose_softmax(values, trial_index, trial_key):
    del trial_index
    return jax.random.categorical(trial_key, beta * values)

  def choose_epsilon_greedy(values, trial_index, trial_key):
    del trial_index
    explore_key, arm_key, tie_key = jax.random.split(trial_key, 3)
    random_arm = jax.random.randint(arm_key, (), 0, num_arms)
    greedy_arm = _random_argmax(tie_key, values)
    explore = jax.random.uniform(explore_key) < epsilon
    return jnp.where(explore, random_arm, greedy_arm)

  def update(values, arm, reward, trial_index):
    del trial_index
    return values.at[arm].add(alpha * (reward - values[arm]))

  choose = choose_softmax if beta is not None else choose_epsilon_greedy
  init_values = jnp.full((num_arms,), initial_value, jnp.float32)
  return _simulate(choose, update, init_values, probs, horizon, key)


_rescorla_wagner = jax.jit(
    _rescorla_wagner_rollout, static_argnames=("horizon",)
)


def rescorla_wagner(
    probs: chex.Array,
    horizon: int,
    key: chex.PRNGKey,
    alpha: float | chex.Array,
    beta: float | chex.Array | None = None,
    epsilon: float | chex.Array | None = None,
    initial_value: float = 0.5,
) -> BanditRollout:
  """Rescorla-Wagner learner, Q_a += alpha (r - Q_a), softmax or epsilon-greedy.

  Args:
    probs: (num_episodes, num_arms) or (num_episodes, horizon, num_arms).
    horizon: trials per episode.
    key: jax.random key.
    alpha: learning rate in [0, 1].
    beta: softmax inverse temperature (give this or `epsilon`).
    epsilon: exploration probability of epsilon-greedy (greedy ties random).
    initial_value: Q of every arm at the start of an episode.

  Returns:
    BanditRollout with (num_episodes, horizon) fields.
  """
  return _rescorla_wagner(
      _probs_per_trial(probs, horizon),
      horizon,
      key,
      alpha,
      beta,
      epsilon,
      initial_value,
  )


class BestFixedRescorlaWagner(NamedTuple):
  """Result of `best_fixed_rescorla_wagner`."""

  alpha: chex.Array  # () the best learning rate on the grid.
  beta: chex.Array  # () the best inverse temperature on the grid.
  cumulative_regret: chex.Array  # (horizon,) mean cumulative regret, best pair.
  cumulative_regret_stderr: chex.Array  # (horizon,) its standard error.
  mean_total_regret: chex.Array  # (len(alphas), len(betas)) the whole grid.


@functools.partial(jax.jit, static_argnames=("horizon", "grid_batch_size"))
def best_fixed_rescorla_wagner(
    probs: chex.Array,
    horizon: int,
    alphas: chex.Array,
    betas: chex.Array,
    key: chex.PRNGKey,
    initial_value: float = 0.5,
    grid_batch_size: int = 8,
) -> BestFixedRescorlaWagner:
  """The softmax Rescorla-Wagner (alpha, beta) of least mean regret on `probs`.

  Every grid point plays the same episodes with the same key (common random
  numbers); the grid is vmapped `grid_batch_size` points at a time to bound
  memory. The minimum is taken in-sample, so its regret is optimistically
  biased: for an honest number, select on one key/probs and re-evaluate the
  chosen pair with `rescorla_wagner` on fresh episodes.

  Args:
    probs: (num_episodes, num_arms) or (num_episodes, horizon, num_arms).
    horizon: trials per episode.
    alphas: (A,) learning rates to try.
    betas: (B,) inverse temperatures to try.
    key: jax.random key (shared by every grid point).
    initial_value: initial Q of every arm.
    grid_batch_size: grid points simulated at once.

  Returns:
    BestFixedRescorlaWagner (best alpha, beta, its regret curve, the grid).
  """
  alphas = jnp.asarray(alphas, jnp.float32)
  betas = jnp.asarray(betas, jnp.float32)
  chex.assert_rank([alphas, betas], 1)
  grid_alpha, grid_beta = jnp.meshgrid(alphas, betas, indexing="ij")

  def mean_total_regret(params):
    alpha, beta = params
    rollout = _rescorla_wagner_rollout(
        probs, horizon, key, alpha, beta, None, initial_value
    )
    return jnp.mean(jnp.sum(rollout.expected_regret, axis=1))

  totals = lax.map(
      mean_total_regret,
      (grid_alpha.ravel(), grid_beta.ravel()),
      batch_size=grid_batch_size,
  )
  best = jnp.argmin(totals)
  alpha, beta = grid_alpha.ravel()[best], grid_beta.ravel()[best]
  rollout = _rescorla_wagner_rollout(
      probs, horizon, key, alpha, beta, None, initial_value
  )
  mean, stderr = cumulative_regret(rollout.expected_regret)
  return BestFixedRescorlaWagner(
      alpha, beta, mean, stderr, totals.reshape(grid_alpha.shape)
  )


@functools.partial(jax.jit, static_argnames=("num_arms",))
def rescorla_wagner_values(
    choices: chex.Array,
    rewards: chex.Array,
    alpha: float | chex.Array,
    num_arms: int,
    initial_value: float = 0.5,
) -> chex.Array:
  """Q values of a Rescorla-Wagner learner BEFORE each trial of given episodes.

  Args:
    choices: (..., T) int arms chosen.
    rewards: (..., T) rewards received.
    alpha: learning rate.
    num_arms: number of arms K.
    initial_value: Q of every arm before the first trial.

  Returns:
    (..., T, K) values; values[..., t, :] is what the learner knew at trial t.
  """
  choices = jnp.asarray(choices, jnp.int32)
  rewards = jnp.asarray(rewards, jnp.float32)
  chex.assert_equal_shape([choices, rewards])
  batch_shape = choices.shape[:-1]
  num_trials = choices.shape[-1]
  flat_choices = choices.reshape(-1, num_trials)
  flat_rewards = rewards.reshape(-1, num_trials)

  def episode_values(episode_choices, episode_rewards):
    def trial(values, inputs):
      arm, reward = inputs
      pulled = jax.nn.one_hot(arm, num_arms)
      new_values = values + alpha * pulled * (reward - values)
      return new_values, values

    init_values = jnp.full((num_arms,), initial_value, jnp.float32)
    _, values = lax.scan(trial, init_values, (episode_choices, episode_rewards))
    return values

  values = jax.vmap(episode_values)(flat_choices, flat_rewards)
  return values.reshape(batch_shape + (num_trials, num_arms))


def _rescorla_wagner_nll(
    alpha, beta, choices, rewards, num_arms, initial_value
):
  """-sum log P(choice) of a softmax RW learner; choices/rewards (E, T)."""
  values = rescorla_wagner_values(
      choices, rewards, alpha, num_arms, initial_value
  )
  log_policy = jax.nn.log_softmax(beta * values, axis=-1)
  chosen = jnp.take_along_axis(log_policy, choices[..., None], axis=-1)
  return -jnp.sum(chosen)


@functools.partial(jax.jit, static_argnames=("num_arms",))
def _nll_grid(alphas, betas, choices, rewards, num_arms, initial_value):
  """(A, B) negative log-likelihoods; values are computed once per alpha."""

  def per_alpha(alpha):
    values = rescorla_wagner_values(
        choices, rewards, alpha, num_arms, initial_value
    )

    def per_beta(beta):
      log_policy = jax.nn.log_softmax(beta * values, axis=-1)
      chosen = jnp.take_along_axis(log_policy, choices[..., None], axis=-1)
      return -jnp.sum(chosen)

    return jax.vmap(per_beta)(betas)

  return lax.map(per_alpha, alphas)


@functools.partial(jax.jit, static_argnames=("num_arms",))
def _nll_and_grad(params, choices, rewards, num_arms, initial_value):
  return jax.value_and_grad(
      lambda p: _rescorla_wagner_nll(
          p[0], p[1], choices, rewards, num_arms, initial_value
      )
  )(params)


class RescorlaWagnerFit(NamedTuple):
  """Maximum-likelihood softmax Rescorla-Wagner parameters."""

  alpha: float
  beta: float
  negative_log_likelihood: float


_DEFAULT_FIT_ALPHAS = np.linspace(0.02, 1.0, 50)
_DEFAULT_FIT_BETAS = np.geomspace(0.1, 100.0, 40)
_FIT_BOUNDS = ((1e-4, 1.0), (0.0, 1e3))


def fit_rescorla_wagner(
    choices: chex.Array,
    rewards: chex.Array,
    num_arms: int,
    alphas: Sequence[float] | None = None,
    betas: Sequence[float] | None = None,
    initial_value: float = 0.5,
) -> RescorlaWagnerFit:
  """Maximum-likelihood (alpha, beta) of a softmax RW model of given choices.

  The likelihood is the product over trials of the softmax probability of the
  observed choice given the values learnt from the episode's past choices and
  rewards (values reset to `initial_value` at each episode start). A grid
  search (default: 50 alphas in [0.02, 1], 40 log-spaced betas in [0.1, 100])
  finds the basin; L-BFGS-B (scipy, JAX gradients) then refines inside
  alpha in [1e-4, 1], beta in [0, 1000]. The refined point is kept only if its
  NLL is lower than the grid's best.

  Args:
    choices: (T,) or (num_episodes, T) int arms in [0, num_arms).
    rewards: same shape, rewards received.
    num_arms: number of arms K.
    alphas: optional grid of learning rates.
    betas: optional grid of inverse temperatures.
    initial_value: Q of every arm at each episode start.

  Returns:
    RescorlaWagnerFit(alpha, beta, negative_log_likelihood) as Python floats.
  """
  choices = np.asarray(choices)
  rewards = np.asarray(rewards, np.float32)
  if choices.shape != rewards.shape or choices.ndim not in (1, 2):
    raise ValueError(
        "choices and rewards must both be (T,) or (E, T); got "
        f"{choices.shape} and {rewards.shape}"
    )
  if np.any(choices < 0) or np.any(choices >= num_arms):
    raise ValueError(f"choices must lie in [0, {num_arms})")
  choices = jnp.asarray(np.atleast_2d(choices), jnp.int32)
  rewards = jnp.asarray(np.atleast_2d(rewards))
  alphas = np.asarray(
      _DEFAULT_FIT_ALPHAS if alphas is None else alphas, np.float32
  )
  betas = np.asarray(_DEFAULT_FIT_BETAS if betas is None else betas, np.float32)

  grid = np.asarray(
      _nll_grid(
          jnp.asarray(alphas),
          jnp.asarray(betas),
          choices,
          rewards,
          num_arms,
          initial_value,
      )
  )
  best_alpha_index, best_beta_index = np.unravel_index(
      np.nanargmin(grid), grid.shape
  )
  best = (
      float(alphas[best_alpha_index]),
      float(betas[best_beta_index]),
      float(grid[best_alpha_index, best_beta_index]),
  )

  def objective(params):
    value, grad = _nll_and_grad(
        jnp.asarray(params, jnp.float32),
        choices,
        rewards,
        num_arms,
        initial_value,
    )
    return float(value), np.asarray(grad, np.float64)

  start = np.clip(
      best[:2], [b[0] for b in _FIT_BOUNDS], [b[1] for b in _FIT_BOUNDS]
  )
  result = scipy.optimize.minimize(
      objective, start, jac=True, method="L-BFGS-B", bounds=_FIT_BOUNDS
  )
  if np.isfinite(result.fun) and result.fun < best[2]:
    best = (float(result.x[0]), float(result.x[1]), float(result.fun))
  return RescorlaWagnerFit(*best)


# ---------------------------------------------------------------------------
# 4. Bayes-optimal finite-horizon policy (two arms, uniform priors).
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BayesOptimalTable:
  """Optimal action of every decision state of the two-armed Beta(1,1) bandit.

  Attributes:
    horizon: H, trials per episode the table was built for.
    actions: (C(H+3, 4),) int8 in {0, 1, TIE}, flat layout described in the
      module docstring.
    block_offsets: (H, H+1) int32; block_offsets[t, n1] is the flat index of
      state (t, n1, s1=0, s2=0).
    root_value: V_0 at (0, 0, 0, 0): the optimal expected total reward
      (discounted when the table is built with a discount < 1).
  """

  horizon: int
  actions: np.ndarray
  block_offsets: np.ndarray
  root_value: float

  def state_index(
      self, successes_0: int, failures_0: int, successes_1: int, failures_1: int
  ) -> int:
    """Flat index of the state (s1, f1, s2, f2) (0-based arms 0 and 1)."""
    trial = successes_0 + failures_0 + successes_1 + failures_1
    if min(successes_0, failures_0, successes_1, failures_1) < 0 or not (
        0 <= trial < self.horizon
    ):
      raise ValueError("not a decision state of this table")
    pulls_0 = successes_0 + failures_0
    return int(
        self.block_offsets[trial, pulls_0]
        + successes_0 * (trial - pulls_0 + 1)
        + successes_1
    )

  def action(
      self, successes_0: int, failures_0: int, successes_1: int, failures_1: int
  ) -> int:
    """Optimal arm (0 or 1) at a state, or TIE when both are optimal."""
    return int(
        self.actions[
            self.state_index(successes_0, failures_0, successes_1, failures_1)
        ]
    )


@functools.lru_cache(maxsize=4)
def build_bayes_optimal_table(
    horizon: int, discount: float = 1.0
) -> BayesOptimalTable:
  """Backward induction V_t = max_a Q_t(., a) from t = H - 1 down to 0 (numpy).

  Q_t(x, a) = p_a(x) + discount * E[V_{t+1}(x') | x, a], with p_a(x) the
  posterior mean of arm a; `discount` = 1 (default) is the undiscounted
  total reward, < 1 the optimal policy of the discounted objective that a
  gamma-discounted learner maximises (exponential discounting is
  time-consistent, so one table serves every trial).

  Layer t is a dense float64 grid over (n1, s1, s2) in [0, t]^3 (n2 = t - n1,
  f_a = n_a - s_a); entries with s1 > n1 or s2 > n2 are not states and are set
  to 0 (a valid state's successors are always valid, so they are never read).
  Pulling arm 0 moves (n1, s1, s2) to (n1+1, s1+1, s2) or (n1+1, s1, s2);
  arm 1 to (n1, s1, s2+1) or (n1, s1, s2). Cached per horizon; arrays are
  read-only.
  """
  if horizon < 1:
    raise ValueError(f"horizon must be >= 1, got {horizon}")
  if not 0.0 < discount <= 1.0:
    raise ValueError(f"discount must be in (0, 1], got {discount}")
  next_values = np.zeros((horizon + 1,) * 3)  # V_H = 0 on layer H's grid.
  layers = []
  for trial in range(horizon - 1, -1, -1):
    size = trial + 1
    pulls_0 = np.arange(size)[:, None, None]
    successes_0 = np.arange(size)[None, :, None]
    successes_1 = np.arange(size)[None, None, :]
    pulls_1 = trial - pulls_0
    mean_0 = (successes_0 + 1.0) / (pulls_0 + 2.0)
    mean_1 = (successes_1 + 1.0) / (pulls_1 + 2.0)
    v = discount * next_values  # exact (v itself) when discount is 1
    q_0 = (
        mean_0 * (1.0 + v[1 : size + 1, 1 : size + 1, :size])
        + (1.0 - mean_0) * v[1 : size + 1, :size, :size]
    )
    q_1 = (
        mean_1 * (1.0 + v[:size, :size, 1 : size + 1])
        + (1.0 - mean_1) * v[:size, :size, :size]
    )
    valid = np.broadcast_to(
        (successes_0 <= pulls_0) & (successes_1 <= pulls_1), q_0.shape
    )
    action = np.where(
        q_0 > q_1 + _TIE_TOLERANCE,
        0,
        np.where(q_1 > q_0 + _TIE_TOLERANCE, 1, TIE),
    )
    layers.append(action[valid].astype(np.int8))  # row-major (n1, s1, s2).
    next_values = np.where(valid, np.maximum(q_0, q_1), 0.0)
  root_value = float(next_values[0, 0, 0])
  actions = np.concatenate(layers[::-1])

  block_offsets = np.zeros((horizon, horizon + 1), np.int64)
  layer_start = 0
  for trial in range(horizon):
    pulls_0 = np.arange(trial + 1)
    block_sizes = (pulls_0 + 1) * (trial - pulls_0 + 1)
    block_offsets[trial, : trial + 1] = layer_start + np.concatenate(
        [[0], np.cumsum(block_sizes)[:-1]]
    )
    layer_start += int(block_sizes.sum())
  assert layer_start == actions.size
  block_offsets = block_offsets.astype(np.int32)
  actions.setflags(write=False)
  block_offsets.setflags(write=False)
  return BayesOptimalTable(horizon, actions, block_offsets, root_value)


def bayes_optimal_expected_reward(horizon: int) -> float:
  """V_0: the Bayes-optimal expected total reward, arms i.i.d. U[0, 1].

  The matching expected regret, 2 * horizon / 3 - V_0, lower-bounds the
  prior-averaged expected regret of every policy on this task distribution.
  """
  return build_bayes_optimal_table(horizon).root_value


@functools.partial(jax.jit, static_argnames=("horizon",))
def _bayes_optimal_rollout(probs, horizon, key, actions, block_offsets):
  def choose(counts, trial_index, trial_key):
    successes, failures = counts
    pulls_0 = successes[0] + failures[0]
    index = (
        block_offsets[trial_index, pulls_0]
        + successes[0] * (trial_index - pulls_0 + 1)
        + successes[1]
    )
    action = actions[index].astype(jnp.int32)
    random_arm = jax.random.bernoulli(trial_key).astype(jnp.int32)
    return jnp.where(action == TIE, random_arm, action)

  def update(counts, arm, reward, trial_index):
    del trial_index
    successes, failures = counts
    success = reward.astype(jnp.int32)
    return successes.at[arm].add(success), failures.at[arm].add(1 - success)

  init_counts = (jnp.zeros(2, jnp.int32), jnp.zeros(2, jnp.int32))
  return _simulate(choose, update, init_counts, probs, horizon, key)


def bayes_optimal(
    probs: chex.Array,
    horizon: int,
    key: chex.PRNGKey,
    table: BayesOptimalTable | None = None,
) -> BanditRollout:
  """Plays the Bayes-optimal policy (table lookup by state index, ties random).

  Args:
    probs: (num_episodes, 2) or (num_episodes, horizon, 2).
    horizon: trials per episode; must equal `table.horizon`.
    key: jax.random key (outcome tape + tie-breaking).
    table: from `build_bayes_optimal_table(horizon)`; built (and cached) if
      None.

  Returns:
    BanditRollout with (num_episodes, horizon) fields.
  """
  if jnp.shape(probs)[-1] != 2:
    raise ValueError(
        "the Bayes-optimal table is for two-armed bandits; got "
        f"probs of shape {jnp.shape(probs)}"
    )
  if table is None:
    table = build_bayes_optimal_table(horizon)
  if table.horizon != horizon:
    raise ValueError(
        f"table built for horizon {table.horizon}, asked to play " f"{horizon}"
    )
  return _bayes_optimal_rollout(
      _probs_per_trial(probs, horizon),
      horizon,
      key,
      jnp.asarray(table.actions),
      jnp.asarray(table.block_offsets),
  )


def bayes_optimal_regret_curve(
    horizon: int, discount: float = 1.0
) -> np.ndarray:
  """Exact prior-averaged cumulative regret of the Bayes-optimal policy, [H].

  With `discount` < 1 the policy is the optimum of the discounted objective
  (`build_bayes_optimal_table`) and the regret is still the undiscounted
  one: what a gamma-discounted learner that were perfect would score (at
  H = 100: 1.7568 at 0.99, 1.8497 at 0.95, 1.9802 at 0.9).

  A forward pass over the decision states of `build_bayes_optimal_table`:
  the probability of reaching each state (s1, f1, s2, f2) under the prior
  predictive (arms i.i.d. U[0, 1]) is pushed through the table's actions
  (ties split evenly, as `bayes_optimal` breaks them), and trial t's expected
  regret is E[max(p1, p2)] - E[posterior mean of the chosen arm] = 2/3 -
  sum_x P_t(x) p_{a_t(x)}(x). No sampling: its last entry is
  2 H / 3 - V_0 (0.4444 at H = 5, 0.6449 at H = 10, 1.7482 at H = 100).
  """
  table = build_bayes_optimal_table(horizon, discount)
  mass = np.ones((1, 1, 1))  # P_0: the empty state.
  per_trial = np.zeros(horizon)
  for trial in range(horizon):
    size = trial + 1
    pulls_0 = np.arange(size)[:, None, None]
    successes_0 = np.arange(size)[None, :, None]
    successes_1 = np.arange(size)[None, None, :]
    pulls_1 = trial - pulls_0
    valid = np.broadcast_to(
        (successes_0 <= pulls_0) & (successes_1 <= pulls_1), (size,) * 3
    )
    start = int(table.block_offsets[trial, 0])
    action = np.full((size,) * 3, TIE, np.int8)
    action[valid] = table.actions[start : start + int(valid.sum())]
    choose_0 = np.where(action == 0, 1.0, np.where(action == 1, 0.0, 0.5))
    mean_0 = (successes_0 + 1.0) / (pulls_0 + 2.0)
    mean_1 = (successes_1 + 1.0) / (np.maximum(pulls_1, 0) + 2.0)
    mass = np.where(valid, mass, 0.0)
    reward = choose_0 * mean_0 + (1.0 - choose_0) * mean_1
    per_trial[trial] = 2.0 / 3.0 - float(np.sum(mass * reward))
    nxt = np.zeros((size + 1,) * 3)
    arm_0, arm_1 = mass * choose_0, mass * (1.0 - choose_0)
    nxt[1:, 1:, :size] += arm_0 * mean_0  # arm 0 pays: n1+1, s1+1
    nxt[1:, :size, :size] += arm_0 * (1.0 - mean_0)  # arm 0 fails: n1+1
    nxt[:size, :size, 1:] += arm_1 * mean_1  # arm 1 pays: s2+1
    nxt[:size, :size, :size] += arm_1 * (1.0 - mean_1)  # arm 1 fails
    mass = nxt
  return np.cumsum(per_trial)
