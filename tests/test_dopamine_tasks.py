"""Tests of environments/dopamine_tasks.py: reward statistics, trial structure,
dm_env semantics, and JumpTheGap's return distribution."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from absl.testing import absltest
from dm_env import test_utils

from environments import base
from environments import dm_env_adapter
from environments import dopamine_tasks as dt


def _run_episodes(env, num_episodes, key, num_steps, policy=None):
  """reset + num_steps steps for each of num_episodes keys (vmapped, jitted).

  Returns the timesteps stacked as (episodes, num_steps + 1) and the inner
  state's trace (episodes, num_steps).
  """
  return _episode_runner(env, num_steps, policy)(
      jax.random.split(key, num_episodes)
  )


@functools.lru_cache(maxsize=None)
def _episode_runner(env, num_steps, policy):
  """One compiled runner per (task, length, policy), shared between tests."""

  def one(k):
    state, timestep = env.reset(k)

    def step(carry, _):
      state, timestep = carry
      action = (
          jnp.zeros((), jnp.int32)
          if policy is None
          else policy(timestep.observation)
      )
      state, timestep = env.step(state, action)
      return (state, timestep), (timestep, state.inner)

    _, (timesteps, inners) = jax.lax.scan(
        step, (state, timestep), None, length=num_steps
    )
    timesteps = jax.tree.map(
        lambda first, rest: jnp.concatenate([first[None], rest]),
        timestep,
        timesteps,
    )
    return timesteps, inners

  return jax.jit(jax.vmap(one))


def _chi_square_pvalue(counts, probs):
  counts = np.asarray(counts, np.float64)
  probs = np.asarray(probs, np.float64)
  expected = counts.sum() * probs / probs.sum()
  keep = expected > 0
  assert np.all(counts[~keep] == 0), "an outcome of probability 0 occurred"
  return scipy.stats.chisquare(counts[keep], expected[keep]).pvalue


# ---- VariableMagnitude ------------------------------------------------------
def test_variable_magnitude_reward_frequencies_match_probabilities():
  env = dt.VariableMagnitude()
  timesteps, _ = _run_episodes(
      env, 20_000, jax.random.PRNGKey(0), env.trial_steps
  )
  rewards = np.asarray(timesteps.reward[:, -1])
  sizes = np.asarray(env.reward_sizes, np.float32)
  index = np.argmin(np.abs(rewards[:, None] - sizes[None, :]), axis=1)
  np.testing.assert_allclose(sizes[index], rewards)
  counts = np.bincount(index, minlength=len(sizes))
  assert _chi_square_pvalue(counts, env.reward_probs) > 1e-3
  probs = np.asarray(env.reward_probs) / np.sum(env.reward_probs)
  np.testing.assert_allclose(counts / counts.sum(), probs, atol=0.01)


def test_variable_magnitude_cued_fraction_and_rewards_per_line():
  env = dt.VariableMagnitude(cued_fraction=0.3, delay_steps=2)
  timesteps, _ = _run_episodes(
      env, 20_000, jax.random.PRNGKey(1), env.trial_steps
  )
  first_state = np.asarray(jnp.argmax(timesteps.observation[:, 0], axis=-1))
  cued = first_state == env.cue_state(env.CUED)
  assert np.all(cued | (first_state == env.cue_state(env.UNCUED)))
  assert scipy.stats.binomtest(int(cued.sum()), cued.size, 0.3).pvalue > 1e-3
  sizes = np.asarray(env.reward_sizes, np.float32)
  rewards = np.asarray(timesteps.reward[:, -1])
  for line in (cued, ~cued):
    index = np.argmin(np.abs(rewards[line][:, None] - sizes), axis=1)
    counts = np.bincount(index, minlength=len(sizes))
    assert _chi_square_pvalue(counts, env.reward_probs) > 1e-3


@pytest.mark.parametrize("delay_steps,pre_cue_steps", [(0, 0), (2, 2)])
def test_pavlovian_trial_structure(delay_steps, pre_cue_steps):
  env = dt.VariableMagnitude(
      cued_fraction=0.5, delay_steps=delay_steps, pre_cue_steps=pre_cue_steps
  )
  steps = env.trial_steps
  assert steps == pre_cue_steps + delay_steps + 1
  # Two trials' worth of steps: checks the auto-reset after LAST too.
  timesteps, inners = _run_episodes(
      env, 64, jax.random.PRNGKey(2), 2 * steps + 1
  )
  step_type = np.asarray(timesteps.step_type)
  reward = np.asarray(timesteps.reward)
  discount = np.asarray(timesteps.discount)
  state = np.asarray(jnp.argmax(timesteps.observation, axis=-1))
  np.testing.assert_allclose(np.asarray(timesteps.observation).sum(-1), 1.0)
  one_trial = [base.FIRST] + [base.MID] * (steps - 1) + [base.LAST]
  np.testing.assert_array_equal(step_type, np.asarray([one_trial * 2] * 64))
  lines = np.asarray(inners.line)[:, 0]  # the first trial's line
  trial_states = env.trial_states()
  for k in range(64):
    # States of the first trial: pre-cue states, cue onset, delay; then end.
    np.testing.assert_array_equal(state[k, :steps], trial_states[lines[k]])
    assert state[k, pre_cue_steps] == env.cue_state(lines[k])
    assert state[k, steps - 1] == env.reward_state(lines[k])
    assert state[k, steps] == env.end_state
  # Rewards only on LAST (all Dabney sizes are > 0); FIRST: reward 0, discount 1.
  last = step_type == base.LAST
  assert np.all(reward[last] > 0) and np.all(reward[~last] == 0)
  np.testing.assert_array_equal(discount, np.where(last, 0.0, 1.0))
  # The cue shows only from cue onset on: pre-cue states are shared.
  if pre_cue_steps:
    np.testing.assert_array_equal(state[:, 0], 0)


def test_variable_probability_cues_and_reward_probabilities():
  env = dt.VariableProbability()
  timesteps, inners = _run_episodes(
      env, 30_000, jax.random.PRNGKey(3), env.trial_steps
  )
  lines = np.asarray(inners.line)[:, 0]
  cue_state = np.asarray(jnp.argmax(timesteps.observation[:, 0], axis=-1))
  cue_states = np.asarray([env.cue_state(line) for line in range(3)])
  np.testing.assert_array_equal(cue_state, cue_states[lines])
  counts = np.bincount(lines, minlength=3)
  assert _chi_square_pvalue(counts, [1, 1, 1]) > 1e-3
  rewards = np.asarray(timesteps.reward[:, -1])
  assert set(np.unique(rewards)) <= {0.0, env.reward_magnitude}
  for line, p in enumerate(env.reward_probabilities):
    rewarded = rewards[lines == line] > 0
    assert (
        scipy.stats.binomtest(int(rewarded.sum()), rewarded.size, p).pvalue
        > 1e-3
    )
    assert abs(rewarded.mean() - p) < 0.02
  assert np.all(np.asarray(timesteps.step_type[:, -1]) == base.LAST)
  assert np.all(np.asarray(timesteps.discount[:, -1]) == 0.0)


def test_pavlovian_layout_and_specs():
  env = dt.VariableProbability(delay_steps=2, pre_cue_steps=1)
  assert env.num_states == 1 + 3 * 3 + 1
  np.testing.assert_array_equal(
      env.trial_states(), [[0, 1, 2, 3], [0, 4, 5, 6], [0, 7, 8, 9]]
  )
  assert env.baseline_state() == 0
  assert dt.VariableProbability().baseline_state() is None
  assert env.observation_spec().shape == (env.num_states,)
  assert env.num_actions() == 1
  values, probs = env.reward_distribution(1)
  np.testing.assert_allclose(values, [0.0, 1.0])
  np.testing.assert_allclose(probs, [0.5, 0.5])
  _, timestep = env.reset(jax.random.PRNGKey(0))
  env.observation_spec().validate(np.asarray(timestep.observation))


def test_fields_are_static_and_validated():
  env = dt.VariableMagnitude(reward_sizes=[1, 2], reward_probs=[1, 3])
  assert env.reward_sizes == (1.0, 2.0) and hash(env) == hash(
      dt.VariableMagnitude(reward_sizes=(1.0, 2.0), reward_probs=(1.0, 3.0))
  )
  np.testing.assert_allclose(env.outcome_probabilities()[0], [0.25, 0.75])
  with pytest.raises(ValueError):
    dt.VariableMagnitude(reward_sizes=(1.0,), reward_probs=(0.5, 0.5))
  with pytest.raises(ValueError):
    dt.VariableMagnitude(cued_fraction=1.5)
  with pytest.raises(ValueError):
    dt.VariableProbability(reward_probabilities=(0.5, 1.2))
  with pytest.raises(ValueError):
    dt.VariableProbability(delay_steps=-1)
  with pytest.raises(ValueError):
    dt.JumpTheGap(num_positions=5, edge_position=3)


def test_same_key_same_episodes():
  env = dt.VariableMagnitude(cued_fraction=0.3, delay_steps=2)
  a, _ = _run_episodes(env, 16, jax.random.PRNGKey(7), env.trial_steps)
  b, _ = _run_episodes(env, 16, jax.random.PRNGKey(7), env.trial_steps)
  c, _ = _run_episodes(env, 16, jax.random.PRNGKey(8), env.trial_steps)
  jax.tree.map(np.testing.assert_array_equal, a, b)
  assert not np.array_equal(a.reward, c.reward)


# ---- JumpTheGap -------------------------------------------------------------
def _discounted_returns(rewards, step_type, gamma):
  """Return of the first episode in each row: sum_t gamma^t r_{t+1} to LAST."""
  end = np.argmax(step_type[:, 1:] == base.LAST, axis=1) + 1  # steps taken
  t = np.arange(rewards.shape[1] - 1)
  in_episode = t[None, :] < end[:, None]
  return np.sum(np.where(in_episode, gamma**t * rewards[:, 1:], 0.0), axis=1)


@pytest.mark.parametrize("gamma", [0.9, 1.0])
def test_jump_the_gap_true_return_distribution_matches_monte_carlo(gamma):
  env = dt.JumpTheGap()
  timesteps, _ = _run_episodes(
      env,
      20_000,
      jax.random.PRNGKey(4),
      env.max_trial_steps,
      policy=env.optimal_action,
  )
  step_type = np.asarray(timesteps.step_type)
  assert np.all((step_type == base.LAST).sum(axis=1) == 1)  # ends in time
  returns = _discounted_returns(
      np.asarray(timesteps.reward, np.float64), step_type, gamma
  )
  values, probs = env.true_return_distribution(gamma)
  atom = np.argmin(np.abs(returns[:, None] - values[None]), axis=1)
  np.testing.assert_allclose(returns, values[atom], atol=1e-5)
  counts = np.bincount(atom, minlength=len(values))
  assert _chi_square_pvalue(counts, probs) > 1e-3
  np.testing.assert_allclose(counts / counts.sum(), probs, atol=0.015)
  # Two peaks, far apart; the mean is neither.
  assert values[0] < 0 < values[1]


def test_jump_the_gap_dynamics():
  env = dt.JumpTheGap(landing_probability=1.0)
  step = jax.jit(env.step)

  def positions(actions):
    state, timestep = env.reset(jax.random.PRNGKey(0))
    out = [
        (int(jnp.argmax(timestep.observation)), 0.0, int(timestep.step_type))
    ]
    for a in actions:
      state, timestep = step(state, a)
      out.append(
          (
              int(jnp.argmax(timestep.observation)),
              float(timestep.reward),
              int(timestep.step_type),
          )
      )
    return out

  run, jump = env.RUN, env.JUMP
  # Optimal: run to the edge (3), jump over the gap (4) to 5, run to goal 7.
  assert positions([run, run, run, jump, run, run]) == [
      (0, 0.0, base.FIRST),
      (1, 0.0, base.MID),
      (2, 0.0, base.MID),
      (3, 0.0, base.MID),
      (5, 0.0, base.MID),
      (6, 0.0, base.MID),
      (7, 1.0, base.LAST),
  ]
  # Running off the edge falls into the gap; so does jumping too early.
  assert positions([run, run, run, run])[-1] == (4, -1.0, base.LAST)
  assert positions([run, jump])[-1] == (4, -1.0, base.LAST)
  # Past the gap a jump is a run.
  assert positions([run, run, run, jump, jump, jump])[-1] == (7, 1.0, base.LAST)
  never = dt.JumpTheGap(landing_probability=0.0)
  state, _ = never.reset(jax.random.PRNGKey(0))
  for a in (run, run, run, jump):
    state, timestep = never.step(state, a)
  assert int(jnp.argmax(timestep.observation)) == 4
  assert float(timestep.reward) == -1.0 and float(timestep.discount) == 0.0


@pytest.mark.parametrize("landing_probability", [0.05, 0.6, 1.0])
def test_jump_the_gap_optimal_action_is_optimal(landing_probability):
  """Exact dynamic programming over positions agrees with `optimal_action`."""
  env = dt.JumpTheGap(landing_probability=landing_probability)
  gamma = 0.9
  p, edge, goal = landing_probability, env.edge_position, env.goal_position
  value = np.zeros(env.num_positions)  # terminal cells (gap, goal) stay 0

  def q(position):
    def arrive(next_position):
      if next_position == goal:
        return env.goal_reward
      return gamma * value[next_position]

    if position < edge:
      return [arrive(position + 1), env.fall_reward]
    if position == edge:
      return [env.fall_reward, p * arrive(edge + 2) + (1 - p) * env.fall_reward]
    return [arrive(position + 1)] * 2

  for position in reversed(
      [x for x in range(env.num_positions) if x not in (env.gap_position, goal)]
  ):
    value[position] = max(q(position))
  for position in range(edge + 1):
    chosen = int(
        env.optimal_action(jax.nn.one_hot(position, env.num_positions))
    )
    assert q(position)[chosen] == max(q(position))
  values, probs = env.true_return_distribution(gamma)
  np.testing.assert_allclose(value[0], np.dot(values, probs), atol=1e-6)


# ---- dm_env semantics through dm_env's own test mixin ------------------------
class VariableMagnitudeDmEnvTest(
    test_utils.EnvironmentTestMixin, absltest.TestCase
):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(
        dt.VariableMagnitude(cued_fraction=0.5, delay_steps=1)
    )


class VariableProbabilityDmEnvTest(
    test_utils.EnvironmentTestMixin, absltest.TestCase
):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(dt.VariableProbability())


class JumpTheGapDmEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(dt.JumpTheGap())

  def make_action_sequence(self):
    env = dt.JumpTheGap()
    for _ in range(4):  # optimal episodes (land or fall), then off the edge
      yield from (env.RUN, env.RUN, env.RUN, env.JUMP, env.RUN, env.RUN)
    yield from (env.RUN,) * 5
