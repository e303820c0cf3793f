"""Tests of agents/distributional_td.py: the update rules on hand-computed
numbers, convergence to exact expectiles / quantiles / the mean, value moving
back to the cue, the two trial sources agreeing, and the readouts' shapes."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from absl.testing import absltest

from agents import distributional_td as dtd
from environments import dopamine_tasks as dt

# Asymmetries kept away from the reward CDF's steps (0.066, 0.157, 0.306,
# 0.461, 0.772, 0.923), where a quantile is not unique.
TAUS = np.asarray([0.03, 0.1, 0.25, 0.4, 0.6, 0.85, 0.97])
NUM_SEEDS = 64


def exact_expectile(values, probs, tau):
  """The tau-expectile e of a discrete distribution, by bisection:
  tau E[(X - e)_+] = (1 - tau) E[(e - X)_+]."""
  values = np.asarray(values, np.float64)
  probs = np.asarray(probs, np.float64) / np.sum(probs)
  lo, hi = values.min(), values.max()
  for _ in range(200):
    e = 0.5 * (lo + hi)
    excess = tau * np.sum(probs * np.maximum(values - e, 0.0)) - (
        1.0 - tau
    ) * np.sum(probs * np.maximum(e - values, 0.0))
    lo, hi = (e, hi) if excess > 0 else (lo, e)
  return 0.5 * (lo + hi)


def exact_quantile(values, probs, tau):
  """The tau-quantile of a discrete distribution (tau off the CDF's steps)."""
  order = np.argsort(values)
  values = np.asarray(values, np.float64)[order]
  cdf = np.cumsum(np.asarray(probs, np.float64)[order]) / np.sum(probs)
  return values[np.searchsorted(cdf, tau)]


def _magnitude_distribution():
  task = dt.VariableMagnitude()
  return task, np.asarray(task.reward_sizes), np.asarray(task.reward_probs)


@functools.partial(jax.jit, static_argnames=("num_trials", "task"))
def _learn_one_step_values(population, keys, initial_values, num_trials, task):
  """simulate_rewards for each key (independent reward streams)."""

  def one(key):
    rewards = dtd.sample_rewards(
        task.reward_sizes, task.reward_probs, num_trials, key
    )
    return dtd.simulate_rewards(
        population, rewards, initial_values=initial_values
    )

  return jax.vmap(one)(keys)


def _seeds(seed, n=NUM_SEEDS):
  return jax.random.split(jax.random.PRNGKey(seed), n)


# ---- the update rule on hand-computed numbers --------------------------------
class UpdateRuleTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_td_error_and_increments(self):
    td_error = self.variant(dtd.td_error)
    np.testing.assert_allclose(td_error(1.0, 2.0, 0.5, 4.0), 3.0)
    np.testing.assert_allclose(td_error(1.0, 0.0, 0.0, 4.0), -1.0)
    increment = self.variant(dtd.value_increment, static_argnums=(3,))
    delta = jnp.asarray([2.0, -2.0, 0.0])
    np.testing.assert_allclose(
        increment(delta, 0.3, 0.1, "expectile"), [0.6, -0.2, 0.0], rtol=1e-6
    )
    np.testing.assert_allclose(
        increment(delta, 0.3, 0.1, "quantile"), [0.3, -0.1, 0.0], rtol=1e-6
    )

  @chex.variants(with_jit=True, without_jit=True)
  def test_simulate_rewards_by_hand(self):
    population = dtd.Population(
        alpha_plus=jnp.asarray([0.5, 0.1]),
        alpha_minus=jnp.asarray([0.1, 0.5]),
        value_offset=jnp.zeros(2),
        rule="expectile",
    )
    simulate = self.variant(dtd.simulate_rewards)
    # Unit 0: 0 -> 0 + 0.5*4 = 2 -> 2 + 0.1*(1-2) = 1.9.
    # Unit 1: 0 -> 0 + 0.1*4 = 0.4 -> 0.4 + 0.1*(1-0.4) = 0.46.
    np.testing.assert_allclose(
        simulate(population, jnp.asarray([4.0, 1.0])), [1.9, 0.46], rtol=1e-6
    )
    quantile = population.replace(rule="quantile")
    # Unit 0: +0.5, then 1 > 0.5: +0.5 -> 1.0. Unit 1: +0.1, +0.1 -> 0.2.
    np.testing.assert_allclose(
        simulate(quantile, jnp.asarray([4.0, 1.0])), [1.0, 0.2], rtol=1e-6
    )


def test_make_population():
  population = dtd.make_population(4, "expectile", step_size=0.1)
  np.testing.assert_allclose(
      population.taus, [0.125, 0.375, 0.625, 0.875], rtol=1e-6
  )
  np.testing.assert_allclose(
      population.alpha_plus + population.alpha_minus, 0.2, rtol=1e-6
  )
  assert dtd.make_population(3, "quantile").rule == "quantile"
  classical = dtd.make_population(5, "classical", step_size=0.1)
  np.testing.assert_allclose(classical.taus, 0.5)
  np.testing.assert_allclose(classical.alpha_plus, 0.1)
  noisy = dtd.make_population(
      50,
      "classical",
      jax.random.PRNGKey(0),
      step_size=0.1,
      step_size_noise=0.5,
      value_noise=1.0,
  )
  np.testing.assert_allclose(noisy.alpha_plus, noisy.alpha_minus)
  assert np.std(noisy.alpha_plus) > 0.01 and np.std(noisy.value_offset) > 0.5
  with pytest.raises(ValueError):
    dtd.make_population(3, "median")
  with pytest.raises(ValueError):
    dtd.make_population(3, "classical", step_size_noise=0.1)  # no key
  with pytest.raises(ValueError):
    dtd.make_population(3, "expectile", jax.random.PRNGKey(0), value_noise=1.0)


# ---- convergence on the variable-magnitude distribution ----------------------
def test_expectile_units_converge_to_exact_expectiles():
  task, values, probs = _magnitude_distribution()
  population = dtd.make_population(
      len(TAUS), "expectile", taus=TAUS, step_size=0.002
  )
  mean = np.dot(values, probs) / probs.sum()
  learned = _learn_one_step_values(
      population, _seeds(0), jnp.full((len(TAUS),), mean), 30_000, task
  )
  expected = [exact_expectile(values, probs, tau) for tau in TAUS]
  # Per-seed s.d. <= 0.22 (step size 0.002): the mean over 64 seeds is within
  # ~0.03 of the fixed point; the tolerance is ~4 standard errors.
  np.testing.assert_allclose(np.mean(learned, axis=0), expected, atol=0.12)
  assert np.all(np.diff(np.mean(learned, axis=0)) > 0)  # optimism ordered


def test_quantile_units_converge_to_exact_quantiles():
  task, values, probs = _magnitude_distribution()
  population = dtd.make_population(
      len(TAUS), "quantile", taus=TAUS, step_size=0.005
  )
  learned = _learn_one_step_values(
      population, _seeds(1), jnp.full((len(TAUS),), 5.0), 30_000, task
  )
  expected = [exact_quantile(values, probs, tau) for tau in TAUS]
  np.testing.assert_allclose(np.mean(learned, axis=0), expected, atol=0.1)
  np.testing.assert_allclose(np.median(learned, axis=0), expected, atol=0.05)


def test_quantile_units_learn_from_zero():
  """From V = 0, without a head start (step size 0.02: 20 ul in ~15k trials)."""
  task, values, probs = _magnitude_distribution()
  population = dtd.make_population(
      len(TAUS), "quantile", taus=TAUS, step_size=0.02
  )
  learned = _learn_one_step_values(
      population, _seeds(2, 8), jnp.zeros((len(TAUS),)), 30_000, task
  )
  expected = [exact_quantile(values, probs, tau) for tau in TAUS]
  np.testing.assert_allclose(np.median(learned, axis=0), expected, atol=0.25)


def test_classical_units_all_converge_to_the_mean():
  task, values, probs = _magnitude_distribution()
  mean = np.dot(values, probs) / probs.sum()
  population = dtd.make_population(
      len(TAUS),
      "classical",
      jax.random.PRNGKey(3),
      step_size=0.002,
      step_size_noise=0.3,
  )
  learned = _learn_one_step_values(
      population, _seeds(4), jnp.zeros((len(TAUS),)), 30_000, task
  )
  np.testing.assert_allclose(np.mean(learned, axis=0), mean, atol=0.12)
  # No reliable diversity: the spread across units is the learning noise.
  assert np.std(np.mean(learned, axis=0)) < 0.05


# ---- multi-step trials: value moves back to the cue ---------------------------
def test_value_propagates_back_to_the_cue():
  gamma, delay = 0.9, 3
  task = dt.VariableMagnitude(delay_steps=delay, cued_fraction=0.5)
  values, probs = task.reward_distribution()
  taus = np.asarray([0.2, 0.5, 0.8])
  # A small step size: the learning noise of V(reward state) is itself spread
  # by the upstream units' expectiles (V(cue) is more extreme than
  # gamma^k e by O(sqrt(step size))).
  population = dtd.make_population(3, "expectile", taus=taus, step_size=0.003)
  num_trials, every = 40_000, 500

  @jax.jit
  def learn(keys):
    def one(key):
      trials = dtd.trials_from_task(task, num_trials, key)
      return dtd.simulate(
          population, trials, task.num_states, gamma=gamma, history_every=every
      )

    return jax.vmap(one)(keys)

  final, history = learn(_seeds(5, 16))
  # Time average over the second half of learning, then over seeds.
  average = np.mean(history[:, history.shape[1] // 2 :], axis=(0, 1))
  expectiles = np.asarray([exact_expectile(values, probs, t) for t in taus])
  for line in (task.UNCUED, task.CUED):
    np.testing.assert_allclose(
        average[:, task.reward_state(line)], expectiles, atol=0.15
    )
    np.testing.assert_allclose(
        average[:, task.cue_state(line)], gamma**delay * expectiles, atol=0.15
    )
    for k in range(delay + 1):  # the whole delay line: gamma^(steps to go)
      np.testing.assert_allclose(
          average[:, task.cue_state(line) + k],
          gamma ** (delay - k) * expectiles,
          atol=0.15,
      )
  # Early in learning the reward state leads and the cue lags behind.
  early = np.mean(history[:, 0], axis=0)
  cue, reward = task.cue_state(task.CUED), task.reward_state(task.CUED)
  assert np.all(early[:, cue] < 0.5 * gamma**delay * expectiles)
  assert np.all(early[:, reward] > early[:, cue])
  np.testing.assert_array_equal(final[:, :, task.end_state], 0.0)


def test_parallel_trial_update_equals_sequential_online_td():
  """The one-shot update of a trial's distinct states == step-by-step TD(0)."""
  gamma = 0.8
  task = dt.VariableProbability(delay_steps=2, pre_cue_steps=2)
  population = dtd.make_population(4, "expectile", step_size=0.2)
  trials = dtd.trials_from_task(task, 50, jax.random.PRNGKey(6))
  learned = np.asarray(
      dtd.simulate(population, trials, task.num_states, gamma=gamma)
  )
  v = np.zeros((4, task.num_states))
  a_plus = np.asarray(population.alpha_plus)[:, None]
  a_minus = np.asarray(population.alpha_minus)[:, None]
  for k in range(50):
    for t in range(trials.states.shape[1]):
      s, s_next = int(trials.states[k, t]), int(trials.next_states[k, t])
      delta = (
          float(trials.rewards[k, t])
          + gamma * float(trials.discounts[k, t]) * v[:, s_next]
          - v[:, s]
      )
      v[:, s] += np.where(delta > 0, a_plus[:, 0], a_minus[:, 0]) * delta
  np.testing.assert_allclose(learned, v, rtol=1e-5, atol=1e-5)


# ---- the two trial sources agree ----------------------------------------------
def test_trials_from_env_and_from_task_agree():
  task = dt.VariableProbability(delay_steps=1, pre_cue_steps=1)
  n = 10_000
  from_env = dtd.trials_from_env(
      task, n, jax.random.PRNGKey(7), block_size=2048
  )
  from_task = dtd.trials_from_task(task, n, jax.random.PRNGKey(8))
  chex.assert_trees_all_equal_shapes_and_dtypes(from_env, from_task)
  for trials in (from_env, from_task):
    np.testing.assert_array_equal(trials.mask, 1.0)
    np.testing.assert_array_equal(trials.discounts[:, -1], 0.0)
    np.testing.assert_array_equal(trials.next_states[:, -1], task.end_state)
    np.testing.assert_array_equal(trials.rewards[:, :-1], 0.0)
  # Same states per line, same cue frequencies and reward rates per cue.
  tables = []
  for trials in (from_env, from_task):
    line = (np.asarray(trials.states[:, 1]) - task.cue_state(0)) // (
        task.delay_steps + 1
    )
    np.testing.assert_array_equal(trials.states, task.trial_states()[line])
    rewarded = np.asarray(trials.rewards[:, -1]) > 0
    tables.append(
        [
            [np.sum((line == c) & rewarded), np.sum((line == c) & ~rewarded)]
            for c in range(3)
        ]
    )
  tables = np.asarray(tables)  # (source, cue, rewarded?)
  assert scipy.stats.chi2_contingency(tables.reshape(2, 6)).pvalue > 1e-3
  # And the population learns the same values from both.
  population = dtd.make_population(5, "expectile", step_size=0.01)
  learned = [
      np.asarray(dtd.simulate(population, trials, task.num_states, gamma=0.9))
      for trials in (from_env, from_task)
  ]
  np.testing.assert_allclose(learned[0], learned[1], atol=0.08)


@functools.lru_cache(maxsize=None)
def _jump_the_gap_trials(env, num_trials):
  return dtd.trials_from_env(
      env, num_trials, jax.random.PRNGKey(10), policy=env.optimal_action
  )


def test_trials_from_env_masks_after_the_end():
  env = dt.JumpTheGap()
  trials = _jump_the_gap_trials(env, 20_000)
  lengths = np.asarray(trials.mask.sum(axis=1))
  assert set(np.unique(lengths)) == {
      env.edge_position + 1,
      env.num_positions - 2,
  }  # fall / land
  np.testing.assert_array_equal(
      np.asarray(trials.rewards)[trials.mask == 0], 0.0
  )
  with pytest.raises(ValueError):
    dtd.trials_from_env(
        env, 10, jax.random.PRNGKey(0), max_steps=2, policy=env.optimal_action
    )


@pytest.mark.parametrize("kind", ["expectile", "classical"])
def test_jump_the_gap_start_value_is_expectile_of_true_returns(kind):
  """Through the environment with its optimal policy, V_i(start) learns the
  tau_i-expectile of `true_return_distribution` (classical: the mean)."""
  gamma = 0.9
  env = dt.JumpTheGap()
  taus = np.asarray([0.1, 0.3, 0.5, 0.7, 0.9])
  if kind == "classical":
    population = dtd.make_population(5, kind, step_size=0.005)
    taus = np.full(5, 0.5)
  else:
    population = dtd.make_population(5, kind, taus=taus, step_size=0.005)
  trials = _jump_the_gap_trials(env, 20_000)
  _, history = dtd.simulate(
      population, trials, env.num_states, gamma=gamma, history_every=200
  )
  start_value = np.mean(np.asarray(history)[40:, :, 0], axis=0)
  values, probs = env.true_return_distribution(gamma)
  expected = [exact_expectile(values, probs, tau) for tau in taus]
  np.testing.assert_allclose(start_value, expected, atol=0.04)
  if kind == "classical":
    np.testing.assert_allclose(start_value, np.dot(values, probs), atol=0.04)


# ---- readouts ----------------------------------------------------------------
def test_readouts_shapes_and_values():
  population = dtd.Population(
      alpha_plus=jnp.asarray([0.03, 0.01]),
      alpha_minus=jnp.asarray([0.01, 0.03]),
      value_offset=jnp.asarray([0.0, 0.5]),
  )
  np.testing.assert_allclose(population.taus, [0.75, 0.25])
  values = jnp.asarray([[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]])  # (N, S)
  np.testing.assert_allclose(
      dtd.reversal_points(population, values, 1), [2.0, 3.5]
  )
  errors = dtd.reward_prediction_errors(
      population, values, [1.0, 10.0], reward_state=1
  )
  np.testing.assert_allclose(errors, [[-1.0, 8.0], [-2.5, 6.5]])
  responses = dtd.trial_responses(population, errors, 4)
  chex.assert_shape(responses, (2, 2, 4))
  # Gains 2 tau above zero, 2 (1 - tau) below.
  np.testing.assert_allclose(
      responses[:, :, 0], [[-0.5, 12.0], [-3.75, 3.25]], rtol=1e-6
  )
  raw = dtd.trial_responses(population, errors, 4, asymmetric_scaling=False)
  np.testing.assert_allclose(raw[:, :, 3], errors)
  noisy = dtd.trial_responses(
      population, errors, 2_000, jax.random.PRNGKey(0), response_noise=0.5
  )
  np.testing.assert_allclose(
      np.std(noisy - responses[:, :, :1]), 0.5, rtol=0.05
  )
  cue = dtd.cue_prediction_errors(values, [1, 2], baseline_state=0, gamma=0.5)
  np.testing.assert_allclose(cue, [[1.0, 2.0], [0.5, 1.5]])
  np.testing.assert_allclose(
      dtd.cue_prediction_errors(values, [2]), [[4.0], [5.0]]
  )
  one_step = jnp.asarray([2.0, 3.0])  # (N,) from simulate_rewards
  np.testing.assert_allclose(
      dtd.reversal_points(population, one_step), [2.0, 3.5]
  )


def test_variable_probability_cue_responses_show_optimism_and_pessimism():
  """The 50% cue's response sits near the 90% cue's for optimistic units and
  near the 10% cue's for pessimistic ones (Dabney et al. 2020, Fig. 4)."""
  task = dt.VariableProbability(delay_steps=1)
  gamma = 0.95
  taus = np.asarray([0.1, 0.5, 0.9])
  population = dtd.make_population(3, "expectile", taus=taus, step_size=0.005)
  values = dtd.simulate_task(
      task, population, 30_000, jax.random.PRNGKey(11), gamma=gamma
  )
  cues = [task.cue_state(c) for c in range(3)]
  errors = np.asarray(dtd.cue_prediction_errors(values, cues, gamma=gamma))
  position = (errors[:, 1] - errors[:, 0]) / (errors[:, 2] - errors[:, 0])
  expected = [
      (
          exact_expectile([0, 1], [0.5, 0.5], t)
          - exact_expectile([0, 1], [0.9, 0.1], t)
      )
      / (
          exact_expectile([0, 1], [0.1, 0.9], t)
          - exact_expectile([0, 1], [0.9, 0.1], t)
      )
      for t in taus
  ]
  np.testing.assert_allclose(position, expected, atol=0.1)
  assert position[0] < 0.4 < 0.6 < position[2]
  responses = dtd.trial_responses(population, errors, 20)
  chex.assert_shape(responses, (3, 3, 20))


def test_same_key_same_result():
  task = dt.VariableMagnitude(delay_steps=1, cued_fraction=0.5)
  population = dtd.make_population(8, "expectile")
  a = dtd.simulate_task(task, population, 1_000, jax.random.PRNGKey(12))
  b = dtd.simulate_task(task, population, 1_000, jax.random.PRNGKey(12))
  np.testing.assert_array_equal(a, b)


if __name__ == "__main__":
  absltest.main()
