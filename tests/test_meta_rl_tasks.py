"""Tests of environments/meta_rl_tasks.py: the dm_env contract and each task's
statistics, on jit+vmap rollouts of random actions.

Every task configuration below is compiled once: `rollout` runs it for two
episodes and one step (2 * episode_length + 2 steps) from reset, and all tests
of that configuration read the same rollout (compiled without LLVM
optimisation, which halves compile time and changes no result). Statistical
checks compare a frequency with its expected value within 5 binomial standard
errors; the seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_env import specs
from scipy import stats

from environments import base
from environments import meta_rl_tasks as tasks

# One xdist worker runs this module, so each configuration compiles once.
pytestmark = pytest.mark.xdist_group("meta_rl_tasks")

BANDIT = tasks.TwoArmedBandit()
RESTLESS_SWITCH = tasks.RestlessBandit()
RESTLESS_WALK = tasks.RestlessBandit(drift_process="random_walk")
RESTLESS_WALK_INDEPENDENT = tasks.RestlessBandit(
    drift_process="random_walk", dependent_arms=False, observe_trial_index=False
)
# A small object pool, so that a few hundred episodes draw every object.
HARLOW_TRAIN = tasks.Harlow(num_objects=40, num_train_objects=24, object_dim=8)
HARLOW_TEST = tasks.Harlow(
    num_objects=40, num_train_objects=24, object_dim=8, split="test"
)
TWO_STEP = tasks.TwoStep()

NUM_ENVS = {
    BANDIT: 1000,
    RESTLESS_SWITCH: 1000,
    RESTLESS_WALK: 1000,
    RESTLESS_WALK_INDEPENDENT: 500,
    HARLOW_TRAIN: 500,
    HARLOW_TEST: 500,
    TWO_STEP: 1000,
}
CONFIG_IDS = [
    "bandit",
    "restless_switch",
    "restless_walk",
    "restless_walk_independent",
    "harlow_train",
    "harlow_test",
    "two_step",
]


def episode_length(env) -> int:
  if isinstance(env, (tasks.Harlow, tasks.TwoStep)):
    return 2 * env.num_trials
  return env.num_trials


class Rollout(NamedTuple):
  """Time-major arrays (time, env, ...): `action[t]` is taken from `state[t]`
  after `timestep[t]`; `timestep` has one entry more than `state`."""

  state: Any
  action: np.ndarray
  timestep: base.TimeStep


@functools.lru_cache(maxsize=None)
def _compiled_rollout(env: base.Environment, num_envs: int, num_steps: int):

  @functools.partial(
      jax.jit, compiler_options={"xla_backend_optimization_level": 0}
  )
  def run(key):
    reset_key, action_key = jax.random.split(key)
    states, timesteps = jax.vmap(env.reset)(
        jax.random.split(reset_key, num_envs)
    )

    def body(carry, key):
      states, timesteps = carry
      actions = jax.random.randint(key, (num_envs,), 0, env.num_actions())
      next_states, next_timesteps = jax.vmap(env.step)(states, actions)
      return (next_states, next_timesteps), (states, actions, next_timesteps)

    _, (states_t, actions, next_timesteps) = jax.lax.scan(
        body, (states, timesteps), jax.random.split(action_key, num_steps)
    )
    all_timesteps = jax.tree.map(
        lambda first, rest: jnp.concatenate([first[None], rest]),
        timesteps,
        next_timesteps,
    )
    return Rollout(state=states_t, action=actions, timestep=all_timesteps)

  return run


def _to_numpy(tree):
  return jax.tree.map(
      lambda x: (
          np.asarray(jax.random.key_data(x))
          if jnp.issubdtype(x.dtype, jax.dtypes.prng_key)
          else np.asarray(x)
      ),
      tree,
  )


@functools.lru_cache(maxsize=None)
def rollout(env: base.Environment, seed: int = 0) -> Rollout:
  """Random actions from reset, for two episodes and one step."""
  run = _compiled_rollout(env, NUM_ENVS[env], 2 * episode_length(env) + 2)
  return _to_numpy(run(jax.random.key(seed)))


def at(tree, index):
  """Selects time steps from a time-major pytree."""
  return jax.tree.map(lambda x: x[index], tree)


def per_step(fn, *time_major_args):
  """Applies a per-environment helper at every (time, env)."""
  return np.asarray(jax.vmap(jax.vmap(fn))(*time_major_args))


def assert_frequency(successes, trials, p, sigmas=5.0):
  successes, trials = float(np.sum(successes)), float(trials)
  stderr = np.sqrt(p * (1 - p) / trials)
  observed = successes / trials
  assert abs(observed - p) <= sigmas * stderr + 1e-12, (
      f"frequency {observed:.4f} vs expected {p} (stderr {stderr:.4f}, "
      f"n={trials:.0f})"
  )


# ---------------------------------------------------------------------------
# The contract, for every task.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("env", list(NUM_ENVS), ids=CONFIG_IDS)
def test_episode_structure_and_specs(env):
  r = rollout(env)
  length = episode_length(env)
  step_type = r.timestep.step_type  # (2 * length + 3, envs)
  expected = np.full(2 * length + 3, base.MID)
  expected[[0, length + 1, 2 * length + 2]] = base.FIRST
  expected[[length, 2 * length + 1]] = base.LAST
  np.testing.assert_array_equal(
      step_type, np.broadcast_to(expected[:, None], step_type.shape)
  )
  discount = r.timestep.discount
  np.testing.assert_array_equal(discount[step_type == base.LAST], 0.0)
  np.testing.assert_array_equal(discount[step_type != base.LAST], 1.0)
  np.testing.assert_array_equal(r.timestep.reward[step_type == base.FIRST], 0.0)
  np.testing.assert_array_equal(
      r.state.episode_step[: length + 1],
      np.broadcast_to(
          np.arange(length + 1)[:, None], r.action[: length + 1].shape
      ),
  )

  obs_spec = env.observation_spec()
  observations = r.timestep.observation
  assert observations.dtype == obs_spec.dtype
  assert observations.shape[2:] == obs_spec.shape
  assert observations.min() >= obs_spec.minimum
  assert observations.max() <= obs_spec.maximum
  obs_spec.validate(observations[length, 0])
  action_spec = env.action_spec()
  assert isinstance(action_spec, specs.DiscreteArray)
  assert action_spec.num_values == 2 == env.num_actions()


def test_defaults_follow_the_papers():
  assert tasks.TwoArmedBandit().num_trials == 100
  assert tasks.RestlessBandit().num_trials == 100
  assert tasks.Harlow().num_trials == 6
  two_step = tasks.TwoStep()
  assert (
      two_step.num_trials,
      two_step.common_probability,
      two_step.reward_probabilities,
      two_step.swap_probability,
  ) == (100, 0.8, (0.9, 0.1), 0.025)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tasks.TwoArmedBandit(arm_distribution="impossible"),
        lambda: tasks.TwoArmedBandit(num_trials=0),
        lambda: tasks.RestlessBandit(drift_process="teleport"),
        lambda: tasks.RestlessBandit(volatilities=(0.5, 1.5)),
        lambda: tasks.RestlessBandit(
            drift_process="random_walk", volatilities=(-0.1,)
        ),
        lambda: tasks.Harlow(split="validation"),
        lambda: tasks.Harlow(num_objects=10, num_train_objects=9),
        lambda: tasks.TwoStep(common_probability=1.2),
    ],
)
def test_bad_parameters_are_rejected(make):
  with pytest.raises(ValueError):
    make()


# ---------------------------------------------------------------------------
# Two-armed bandit.
# ---------------------------------------------------------------------------


def _reset_probabilities(env, n=20_000):
  # Eager vmap: the five distributions share compiled primitives.
  states, _ = jax.vmap(env.reset)(jax.random.split(jax.random.key(1), n))
  return np.asarray(jax.vmap(env.arm_probabilities)(states))


def test_independent_arms_are_uniform_and_independent():
  p = _reset_probabilities(tasks.TwoArmedBandit(arm_distribution="independent"))
  for arm in range(2):
    assert stats.kstest(p[:, arm], "uniform").pvalue > 1e-3
  assert abs(np.corrcoef(p[:, 0], p[:, 1])[0, 1]) < 0.04


def test_dependent_uniform_arms_sum_to_one():
  p = _reset_probabilities(
      tasks.TwoArmedBandit(arm_distribution="dependent_uniform")
  )
  np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
  assert stats.kstest(p[:, 0], "uniform").pvalue > 1e-3


@pytest.mark.parametrize(
    "difficulty,low", [("easy", 0.1), ("medium", 0.25), ("hard", 0.4)]
)
def test_two_point_arm_distributions(difficulty, low):
  p = _reset_probabilities(tasks.TwoArmedBandit(arm_distribution=difficulty))
  is_low = np.isclose(p[:, 0], low)
  assert np.all(is_low | np.isclose(p[:, 0], 1 - low))
  np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
  assert_frequency(is_low, len(p), 0.5)


def test_bandit_reward_frequency_matches_arm_probability():
  r = rollout(BANDIT)
  n = BANDIT.num_trials
  p = r.state.inner.arm_probabilities[:n]  # first episode: (n, envs, 2)
  # One bandit per episode: the probabilities never change within it, and
  # the next episode draws new ones.
  np.testing.assert_array_equal(p, np.broadcast_to(p[:1], p.shape))
  assert not np.any(p[0] == r.state.inner.arm_probabilities[n + 1])
  p_chosen = np.take_along_axis(p, r.action[:n, :, None], axis=-1)[..., 0]
  reward = r.timestep.reward[1 : n + 1]
  assert set(np.unique(reward)) == {0.0, 1.0}
  for lo in np.arange(0.0, 1.0, 0.2):  # reward frequency per probability bin
    in_bin = (p_chosen >= lo) & (p_chosen < lo + 0.2)
    assert_frequency(
        reward[in_bin], in_bin.sum(), p_chosen[in_bin].mean(), sigmas=6.0
    )


def test_bandit_observation_is_the_trial_index():
  r = rollout(BANDIT)
  n = BANDIT.num_trials
  obs = r.timestep.observation[:, :, 0]
  first_episode = np.arange(n + 1)[:, None] / n
  np.testing.assert_allclose(
      obs[: n + 1],
      np.broadcast_to(first_episode, obs[: n + 1].shape),
      rtol=1e-6,
  )
  np.testing.assert_allclose(
      obs[n + 1 : 2 * n + 2],
      np.broadcast_to(first_episode, obs[: n + 1].shape),
      rtol=1e-6,
  )
  trial = per_step(BANDIT.trial_index, r.state)
  np.testing.assert_array_equal(
      trial[:n], np.broadcast_to(np.arange(n)[:, None], trial[:n].shape)
  )
  # observe_trial_index=False shows a constant.
  np.testing.assert_array_equal(
      rollout(RESTLESS_WALK_INDEPENDENT).timestep.observation, 1.0
  )


def test_expected_regret():
  r = rollout(BANDIT)
  regret = per_step(BANDIT.expected_regret, r.state, r.action)
  p = r.state.inner.arm_probabilities
  expected = p.max(-1) - np.take_along_axis(p, r.action[..., None], -1)[..., 0]
  # The reset steps after LAST play no trial.
  expected = np.where(r.state.last, 0.0, expected)
  assert r.state.last.sum() == 2 * NUM_ENVS[BANDIT]
  np.testing.assert_allclose(regret, expected, atol=1e-7)
  assert regret.min() >= 0.0


# ---------------------------------------------------------------------------
# Restless bandit.
# ---------------------------------------------------------------------------


def test_reflect_unit_interval():
  x = jnp.array([0.4, 1.2, -0.3, 2.5, -1.25, 1.0, 0.0])
  np.testing.assert_allclose(
      tasks.reflect_unit_interval(x),
      [0.4, 0.8, 0.3, 0.5, 0.75, 1.0, 0.0],
      atol=1e-6,
  )


@pytest.mark.parametrize(
    "env", [RESTLESS_SWITCH, RESTLESS_WALK], ids=["switch", "random_walk"]
)
def test_restless_drift_is_larger_for_high_volatility(env):
  assert env.volatilities == (0.01, 0.1)
  r = rollout(env)
  n = env.num_trials
  p = r.state.inner.arm_probabilities[:n]  # first episode: (n, envs, 2)
  assert p.min() >= 0.0 and p.max() <= 1.0
  np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
  index = r.state.inner.volatility_index[0]
  np.testing.assert_array_equal(
      r.state.inner.volatility_index[:n],
      np.broadcast_to(index, p[..., 0].shape),
  )
  np.testing.assert_allclose(
      per_step(env.volatility, at(r.state, slice(0, 1))),
      np.where(index == 0, 0.01, 0.1)[None],
      rtol=1e-6,
  )
  np.testing.assert_array_equal(
      per_step(env.volatility_index, at(r.state, slice(0, 1))), index[None]
  )
  assert_frequency(index == 1, len(index), 0.5)

  step = np.abs(np.diff(p[..., 0], axis=0))  # (n - 1, envs)
  low, high = step[:, index == 0], step[:, index == 1]
  if env.drift_process == "switch":
    high_p, low_p = env.switch_reward_probabilities
    assert np.all(np.isclose(p, high_p) | np.isclose(p, low_p))
    assert_frequency(low > 0, low.size, 0.01)
    assert_frequency(high > 0, high.size, 0.1)
  else:
    # Away from the walls |dp| has mean v * sqrt(2 / pi); the walls reduce it.
    mean_step = np.sqrt(2 / np.pi) * np.array([0.01, 0.1])
    np.testing.assert_allclose(low.mean(), mean_step[0], rtol=0.05)
    assert 0.7 * mean_step[1] < high.mean() < mean_step[1]
  assert high.mean() > 4 * low.mean()


def test_restless_reward_uses_the_probabilities_of_its_trial():
  # On trials after which the arms swap, p(t) and p(t + 1) disagree (0.8 vs
  # 0.2 for the chosen arm): the reward must follow p(t).
  r = rollout(RESTLESS_SWITCH)
  n = RESTLESS_SWITCH.num_trials
  p = r.state.inner.arm_probabilities[: n + 1]
  p_now = np.take_along_axis(p[:n], r.action[:n, :, None], -1)[..., 0]
  swaps = p[1:, :, 0] != p[:n, :, 0]
  reward = r.timestep.reward[1 : n + 1]
  for level in (0.8, 0.2):
    chosen = swaps & np.isclose(p_now, level)
    assert chosen.sum() > 300
    assert_frequency(reward[chosen], chosen.sum(), level)


def test_restless_reward_frequency_matches_arm_probability():
  r = rollout(RESTLESS_WALK)
  n = RESTLESS_WALK.num_trials
  p = r.state.inner.arm_probabilities[:n]
  p_chosen = np.take_along_axis(p, r.action[:n, :, None], axis=-1)[..., 0]
  reward = r.timestep.reward[1 : n + 1]
  z = (reward.sum() - p_chosen.sum()) / np.sqrt(
      (p_chosen * (1 - p_chosen)).sum()
  )
  assert abs(z) < 5


def test_restless_independent_random_walk():
  r = rollout(RESTLESS_WALK_INDEPENDENT)
  n = RESTLESS_WALK_INDEPENDENT.num_trials
  p = r.state.inner.arm_probabilities[:n]
  assert p.min() >= 0.0 and p.max() <= 1.0
  index = r.state.inner.volatility_index[0]
  steps = np.diff(p[:, index == 0], axis=0).reshape(-1, 2)  # no walls hit
  assert abs(np.corrcoef(steps[:, 0], steps[:, 1])[0, 1]) < 0.03
  assert np.abs(p.sum(-1) - 1.0).mean() > 0.1


# ---------------------------------------------------------------------------
# Harlow.
# ---------------------------------------------------------------------------


def _decode_objects(env, observations):
  """Pool indices of the (left, right) objects shown in `observations`."""
  d = env.object_dim
  index_of = {row.tobytes(): i for i, row in enumerate(env.object_pool())}
  shown = np.stack([observations[..., :d], observations[..., d : 2 * d]], -2)
  flat = shown.reshape(-1, d)
  decoded = [index_of.get(row.tobytes(), -1) for row in flat]
  decoded = np.array(decoded).reshape(shown.shape[:-1])
  assert decoded.min() >= 0, "an observation shows no pool object"
  return decoded


@pytest.mark.parametrize(
    "env", [HARLOW_TRAIN, HARLOW_TEST], ids=["train", "test"]
)
def test_harlow_episodes(env):
  n = env.num_trials
  r = rollout(env)
  obs = r.timestep.observation[: 2 * n]  # seen before each action
  reward = r.timestep.reward[1 : 2 * n + 1]  # reward following each action
  fixation, choice = obs[0::2], obs[1::2]  # (n, envs, 2d + 1)

  # Fixation screens show nothing; choice screens show two objects.
  np.testing.assert_array_equal(fixation[..., :-1], 0.0)
  np.testing.assert_array_equal(fixation[..., -1], 1.0)
  np.testing.assert_array_equal(choice[..., -1], 0.0)
  np.testing.assert_array_equal(reward[0::2], 0.0)
  assert set(np.unique(reward[1::2])) == {-1.0, 1.0}

  # Each episode uses exactly its two objects, both from its split.
  shown = _decode_objects(env, choice)  # (n, envs, 2)
  episode_objects = per_step(env.episode_objects, at(r.state, slice(0, 1)))[0]
  assert np.all(episode_objects[:, 0] != episode_objects[:, 1])
  np.testing.assert_array_equal(
      np.sort(shown, -1),
      np.broadcast_to(np.sort(episode_objects, -1), shown.shape),
  )
  np.testing.assert_array_equal(
      r.state.inner.objects[: 2 * n],
      np.broadcast_to(episode_objects, r.state.inner.objects[: 2 * n].shape),
  )
  start, stop = env.object_index_range()
  assert (start, stop) == ((0, 24) if env.split == "train" else (24, 40))
  assert set(episode_objects.ravel().tolist()) == set(range(start, stop))
  # The next episode draws a new pair.
  next_objects = r.state.inner.objects[2 * n + 1]
  assert (
      np.mean(
          np.all(np.sort(next_objects, -1) == np.sort(episode_objects, -1), -1)
      )
      < 0.05
  )

  # The rewarded object, read off observations and rewards, is fixed within an
  # episode and is the one the state reports.
  action = r.action[1 : 2 * n : 2]
  chosen = np.take_along_axis(shown, action[..., None], -1)[..., 0]
  other = np.take_along_axis(shown, 1 - action[..., None], -1)[..., 0]
  rewarded = np.where(reward[1::2] > 0, chosen, other)  # (n, envs)
  np.testing.assert_array_equal(
      rewarded, np.broadcast_to(rewarded[:1], rewarded.shape)
  )
  np.testing.assert_array_equal(
      rewarded[0], per_step(env.rewarded_object, at(r.state, slice(0, 1)))[0]
  )

  # Sides are re-drawn every trial, 50/50.
  rewarded_left = shown[..., 0] == rewarded
  assert_frequency(rewarded_left, rewarded_left.size, 0.5)
  switched = rewarded_left[1:] != rewarded_left[:-1]
  assert_frequency(switched, switched.size, 0.5)


def test_harlow_analysis_helpers():
  env = HARLOW_TRAIN
  n = env.num_trials
  r = rollout(env)
  t = np.arange(2 * n + 1)[:, None]
  first_episode = at(r.state, slice(0, 2 * n + 1))
  trial = per_step(env.trial_index, first_episode)
  np.testing.assert_array_equal(trial, np.broadcast_to(t // 2, trial.shape))
  is_choice = per_step(env.is_choice_step, r.state)
  expected_choice = np.zeros(4 * n + 2, bool)
  expected_choice[1 : 2 * n : 2] = True  # first episode
  expected_choice[2 * n + 2 : 4 * n + 1 : 2] = True  # second episode
  np.testing.assert_array_equal(
      is_choice, np.broadcast_to(expected_choice[:, None], is_choice.shape)
  )
  correct = per_step(env.correct_action, r.state)
  reward = r.timestep.reward[1:]
  np.testing.assert_array_equal(
      reward[is_choice], np.where(r.action == correct, 1.0, -1.0)[is_choice]
  )


def test_harlow_object_pool():
  pool = tasks.Harlow(object_seed=3).object_pool()
  assert pool.shape == (1000, 16) and pool.dtype == np.float32
  assert pool.min() >= 0.0 and pool.max() < 1.0
  assert len(np.unique(pool, axis=0)) == len(pool)
  np.testing.assert_array_equal(
      pool, tasks.harlow_object_pool.__wrapped__(1000, 16, 3)
  )  # no cache
  assert not np.array_equal(pool, tasks.Harlow(object_seed=4).object_pool())
  # Both splits see the same pool; only the index ranges differ.
  np.testing.assert_array_equal(
      HARLOW_TRAIN.object_pool(), HARLOW_TEST.object_pool()
  )
  assert tasks.Harlow().object_index_range() == (0, 800)
  assert tasks.Harlow(split="test").object_index_range() == (800, 1000)


def test_same_key_same_episode_stream():
  env = HARLOW_TRAIN
  run = _compiled_rollout(env, NUM_ENVS[env], 2 * episode_length(env) + 2)
  again = _to_numpy(run(jax.random.key(0)))
  jax.tree.map(np.testing.assert_array_equal, rollout(env), again)
  other = _to_numpy(run(jax.random.key(1)))
  assert not np.array_equal(
      rollout(env).state.inner.objects, other.state.inner.objects
  )


# ---------------------------------------------------------------------------
# Two-step task.
# ---------------------------------------------------------------------------


def test_two_step_transitions_and_rewards():
  env = TWO_STEP
  n = env.num_trials
  r = rollout(env)
  obs = r.timestep.observation[: 2 * n]
  reward = r.timestep.reward[1 : 2 * n + 1]
  a1 = r.action[0 : 2 * n : 2]
  np.testing.assert_array_equal(
      obs[0::2], np.broadcast_to([1.0, 0, 0], obs[0::2].shape)
  )
  assert np.all(obs[1::2, ..., 0] == 0) and np.all(obs[1::2].sum(-1) == 1)
  stage2_state = obs[1::2, ..., 2].astype(int)  # 0 = A, 1 = B
  common = stage2_state == a1
  for action in (0, 1):  # a1 = 0 -> A and a1 = 1 -> B, commonly
    assert_frequency(common[a1 == action], (a1 == action).sum(), 0.8)

  np.testing.assert_array_equal(reward[0::2], 0.0)
  stage2_reward = reward[1::2]
  assert set(np.unique(stage2_reward)) == {0.0, 1.0}
  stage1_states = at(r.state, slice(0, 2 * n, 2))
  better = per_step(env.better_state, stage1_states)
  in_better = stage2_state == better
  assert_frequency(stage2_reward[in_better], in_better.sum(), 0.9)
  assert_frequency(stage2_reward[~in_better], (~in_better).sum(), 0.1)
  p_state = per_step(env.state_reward_probabilities, stage1_states)
  np.testing.assert_allclose(
      np.take_along_axis(p_state, stage2_state[..., None], -1)[..., 0],
      np.where(in_better, 0.9, 0.1),
      rtol=1e-6,
  )

  # The better state swaps between consecutive trials with p = 0.025, and is
  # fixed within a trial.
  np.testing.assert_array_equal(
      r.state.inner.better_state[1 : 2 * n : 2], better
  )
  swapped = better[1:] != better[:-1]
  assert_frequency(swapped, swapped.size, 0.025)
  assert_frequency(better == 1, better.size, 0.5, sigmas=6)


def test_two_step_trial_records():
  env = TWO_STEP
  n = env.num_trials
  r = rollout(env)
  rewards_following = r.timestep.reward[1 : 2 * n + 1]
  logged = jax.vmap(tasks.trials_from_episode, in_axes=1, out_axes=1)(
      r.timestep.observation[: 2 * n], r.action[: 2 * n], rewards_following
  )
  logged = _to_numpy(logged)
  # The state at each stage-1 step (and the one after the last trial) knows
  # the trial just completed.
  previous = _to_numpy(
      jax.vmap(jax.vmap(env.previous_trial))(
          at(r.state, slice(2, 2 * n + 1, 2))
      )
  )
  jax.tree.map(np.testing.assert_array_equal, logged, previous)
  np.testing.assert_array_equal(logged.stage1_action, r.action[0 : 2 * n : 2])
  np.testing.assert_array_equal(logged.rewarded, rewards_following[1::2] > 0)
  assert_frequency(logged.common, logged.common.size, 0.8)

  t = np.arange(4 * n + 2)
  in_first_episode = t < 2 * n
  has_previous = per_step(env.has_previous_trial, r.state)
  np.testing.assert_array_equal(
      has_previous[: 2 * n + 1],
      np.broadcast_to(
          ((t % 2 == 0) & (t >= 2) & in_first_episode)[: 2 * n + 1, None],
          has_previous[: 2 * n + 1].shape,
      ),
  )
  is_stage1 = per_step(env.is_stage1_step, r.state)
  np.testing.assert_array_equal(
      is_stage1[: 2 * n + 1],
      np.broadcast_to(
          ((t % 2 == 0) & in_first_episode)[: 2 * n + 1, None],
          is_stage1[: 2 * n + 1].shape,
      ),
  )
  # Random actions: stay probability 1/2 whatever the previous trial was.
  stay = r.action[: 2 * n + 1][has_previous[: 2 * n + 1]] == (
      previous.stage1_action[:-1].ravel()
  )
  assert_frequency(stay, stay.size, 0.5)
