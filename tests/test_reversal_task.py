"""Tests of environments/reversal_task.py: hand-checked steps, reversals, the
episode's length and termination, and the targets' frequencies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from environments import registry
from environments import reversal_task


def _play(env, actions, key=0):
  """Steps `actions` from reset; returns the states and timesteps."""
  state, timestep = env.reset(jax.random.PRNGKey(key))
  states, timesteps = [state], [timestep]
  for a in actions:
    state, timestep = env.step(state, jnp.asarray(a, jnp.int32))
    states.append(state)
    timesteps.append(timestep)
  return states, timesteps


def test_a_trial_by_hand_without_reversals():
  env = reversal_task.ReversalTask(num_trials=3, reversal_probability=0.0)
  states, steps = _play(env, [0] * 6)
  np.testing.assert_array_equal(steps[0].observation, [1, 0, 0])
  rewarded = int(env.rewarded_target(states[0]))
  for trial in range(3):
    fixation, target = 2 * trial, 2 * trial + 1
    assert not env.is_target_step(states[fixation])
    assert float(steps[target].reward) == 0.0  # fixation gives nothing
    shown = int(env.shown_target(states[target]))
    assert env.is_target_step(states[target])
    np.testing.assert_array_equal(
        steps[target].observation, np.eye(3)[1 + shown]
    )
    # Action 0 collects target 0's outcome, an error on target 1.
    expected = 1.0 if (shown == 0 and rewarded == 0) else 0.0
    assert float(steps[target + 1].reward) == expected
    assert int(env.rewarded_target(states[target + 1])) == rewarded
    assert int(env.trial_index(states[target])) == trial
  assert bool(steps[6].last()) and float(steps[6].discount) == 0.0
  assert all(bool(s.mid()) for s in steps[1:6])


def test_the_shown_target_is_collected_when_the_saccade_matches():
  env = reversal_task.ReversalTask(num_trials=20, reversal_probability=0.0)
  state, step = env.reset(jax.random.PRNGKey(3))
  rewarded = int(env.rewarded_target(state))
  for _ in range(20):
    state, step = env.step(state, jnp.int32(0))  # fixation
    shown = int(env.shown_target(state))
    state, step = env.step(state, jnp.int32(shown))
    assert float(step.reward) == (1.0 if shown == rewarded else 0.0)


def test_reversal_probability_one_swaps_after_every_trial():
  env = reversal_task.ReversalTask(num_trials=4, reversal_probability=1.0)
  states, _ = _play(env, [0] * 8)
  rewarded = [int(env.rewarded_target(states[2 * t])) for t in range(4)]
  assert rewarded[1] == 1 - rewarded[0]
  assert rewarded[2] == rewarded[0] and rewarded[3] == rewarded[1]
  assert [int(env.reversals(states[2 * t])) for t in range(4)] == [0, 1, 2, 3]
  # The reversal happens after the outcome: within a trial it is constant.
  for t in range(4):
    assert int(env.rewarded_target(states[2 * t + 1])) == rewarded[t]


def test_targets_and_reversals_have_their_frequencies():
  env = registry.make("reversal", num_trials=50, reversal_probability=0.1)

  @jax.jit
  def run(key):
    state, _ = jax.vmap(env.reset)(jax.random.split(key, 400))

    def step(state, _):
      info = (
          jax.vmap(env.shown_target)(state),
          jax.vmap(env.is_target_step)(state),
          jax.vmap(env.reversals)(state),
      )
      state, _ = jax.vmap(env.step)(state, jnp.zeros((400,), jnp.int32))
      return state, info

    return jax.lax.scan(step, state, None, length=100)[1]

  shown, is_target, reversals = map(np.asarray, run(jax.random.PRNGKey(0)))
  targets = shown[is_target.astype(bool)]
  assert targets.mean() == pytest.approx(0.5, abs=5 * 0.5 / np.sqrt(20000))
  # 49 chances to reverse before the last trial, p = 0.1 each.
  final = reversals[-1]
  assert final.mean() == pytest.approx(4.9, abs=5 * np.sqrt(4.41 / 400))


def test_bad_parameters_are_refused():
  with pytest.raises(ValueError, match="num_trials"):
    reversal_task.ReversalTask(num_trials=0)
  with pytest.raises(ValueError, match="reversal_probability"):
    reversal_task.ReversalTask(reversal_probability=1.5)
