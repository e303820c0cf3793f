"""The continuous-control tasks against their references, step for step.

Pendulum and MountainCarContinuous are checked against gymnax (Pendulum-v1,
MountainCarContinuous-v0): from each of our states, gymnax's full `step`
(time limit included) must give our observation, reward, termination and
truncation. Actions go beyond the bounds (clipping) and a pumping policy
drives the speed to its limit, the car to the left wall and to the goal.
MountainCarContinuous is also checked over whole episodes against Gymnasium.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import absltest
from dm_env import specs
from dm_env import test_utils

from agents.lib import continuous
from environments import base
from environments import dm_env_adapter
from environments import mountain_car_continuous
from environments import pendulum
from environments import registry


def _rollout(env, policy, num_steps, seeds=(0,)):
  """Our task under `policy(observation, key) -> action`: one compiled scan,
  vmapped over `seeds`.

  Returns (states before each step, actions, timesteps after each step),
  each with leading axes [seed * time] (seed-major).
  """

  def one_step(carry, key):
    state, ts = carry
    action = policy(ts.observation, key)
    next_state, next_ts = env.step(state, action)
    return (next_state, next_ts), (state, action, next_ts)

  def episode_stream(seed):
    reset_key, key = jax.random.split(jax.random.PRNGKey(seed))
    keys = jax.random.split(key, num_steps)
    return jax.lax.scan(one_step, env.reset(reset_key), keys)[1]

  out = jax.jit(jax.vmap(episode_stream))(jnp.asarray(seeds))
  return jax.tree.map(lambda x: np.asarray(x).reshape(-1, *x.shape[2:]), out)


def _pump_or_uniform(velocity_index, bound):
  """Pushes along the velocity at 1.5x the bound (clipped by the task) with
  probability 0.7, else a uniform action over twice the bounds."""

  def policy(observation, key):
    pump_key, uniform_key = jax.random.split(key)
    pump = jnp.where(observation[velocity_index] >= 0, 1.5, -1.5) * bound
    uniform = jax.random.uniform(uniform_key, (), jnp.float32, -2, 2) * bound
    pumping = jax.random.uniform(pump_key) < 0.7
    return jnp.where(pumping, pump, uniform)[None]

  return policy


def _gymnax_from(gx_env, states, actions):
  """gymnax's full step (time limit included) from each of our states."""
  step = jax.vmap(gx_env.step, in_axes=(None, 0, 0, None))
  _, _, reward, terminated, truncated, info = jax.jit(step)(
      jax.random.PRNGKey(0), states, actions, gx_env.default_params
  )
  return jax.tree.map(
      np.asarray, (info["final_observation"], reward, terminated, truncated)
  )


def test_pendulum_reset_matches_gymnax():
  from gymnax.environments.classic_control import pendulum as gx

  gx_env = gx.Pendulum()
  keys = jax.random.split(jax.random.PRNGKey(0), 64)
  obs_gx, state_gx = jax.vmap(gx_env.reset_env, in_axes=(0, None))(
      keys, gx_env.default_params
  )
  inner, obs = jax.vmap(pendulum.Pendulum()._reset)(keys)
  np.testing.assert_array_equal(obs, obs_gx)
  np.testing.assert_array_equal(inner.theta, state_gx.theta)
  np.testing.assert_array_equal(inner.theta_dot, state_gx.theta_dot)


def test_pendulum_matches_gymnax_step_for_step():
  from gymnax.environments.classic_control import pendulum as gx

  env = pendulum.Pendulum()
  before, actions, ts = _rollout(env, _pump_or_uniform(2, 2.0), 450, (0, 1, 2))
  gx_states = gx.EnvState(
      theta=before.inner.theta,
      theta_dot=before.inner.theta_dot,
      last_u=np.zeros_like(before.inner.theta),
      time=before.episode_step,
  )
  obs_gx, reward_gx, terminated, truncated = _gymnax_from(
      gx.Pendulum(), gx_states, actions
  )
  # A step after LAST is our FIRST step of a new episode: nothing to compare.
  new_episode = before.last
  assert np.all(ts.step_type[new_episode] == base.FIRST)
  same = ~new_episode
  np.testing.assert_allclose(
      ts.observation[same], obs_gx[same], rtol=1e-6, atol=1e-6
  )
  np.testing.assert_allclose(
      ts.reward[same], reward_gx[same], rtol=1e-6, atol=1e-6
  )
  assert not terminated.any() and np.all(ts.discount == 1.0)
  np.testing.assert_array_equal(
      ts.step_type[same] == base.LAST, truncated[same]
  )
  # The run covered clipped actions, the speed limit, truncation at 200
  # steps and the reset after it.
  assert np.abs(actions).max() > 2.0
  assert np.any(np.abs(ts.observation[same, 2]) == 8.0)
  assert truncated[same].sum() == 6 and new_episode.sum() == 6


def _car_against_gymnax(policy, num_steps, seed):
  """Our car's rollout, compared with gymnax's step from each of our states.
  Returns the counts (left-wall stops, terminations, truncations)."""
  from gymnax.environments.classic_control import continuous_mountain_car as gx

  env = mountain_car_continuous.MountainCarContinuous()
  before, actions, ts = _rollout(env, policy, num_steps, (seed,))
  gx_states = gx.EnvState(
      position=before.inner.position,
      velocity=before.inner.velocity,
      time=before.episode_step,
  )
  obs_gx, reward_gx, terminated, truncated = _gymnax_from(
      gx.ContinuousMountainCar(), gx_states, actions
  )
  same = ~before.last
  assert np.all(ts.step_type[before.last] == base.FIRST)
  position, velocity = ts.observation[:, 0], ts.observation[:, 1]
  np.testing.assert_allclose(
      position[same], obs_gx[same, 0], rtol=1e-6, atol=1e-7
  )
  # The one difference: Gym's inelastic left wall stops the car; gymnax
  # 1.0.1 keeps its negative velocity there.
  wall = same & (position == np.float32(-1.2)) & (obs_gx[:, 1] < 0)
  assert np.all(velocity[wall] == 0.0)
  np.testing.assert_allclose(
      velocity[same & ~wall], obs_gx[same & ~wall, 1], rtol=1e-6, atol=1e-7
  )
  np.testing.assert_allclose(
      ts.reward[same], reward_gx[same], rtol=1e-6, atol=1e-5
  )
  np.testing.assert_array_equal(
      ts.step_type[same] == base.LAST, (terminated | truncated)[same]
  )
  np.testing.assert_array_equal(
      ts.discount[same], np.where(terminated[same], 0.0, 1.0)
  )
  return (
      int(wall.sum()),
      int(terminated[same].sum()),
      int((truncated & ~terminated)[same].sum()),
  )


def test_mountain_car_matches_gymnax_step_for_step():
  # Uniform actions over twice the bounds: the car dithers in the valley
  # until the 999-step limit truncates the episode.
  uniform = lambda obs, key: jax.random.uniform(key, (1,), jnp.float32, -2, 2)
  _, terminations, truncations = _car_against_gymnax(uniform, 1100, 0)
  assert terminations == 0 and truncations == 1
  # Mostly pumping energy: the left wall, then the goal.
  walls, terminations, _ = _car_against_gymnax(_pump_or_uniform(1, 1.0), 600, 1)
  assert walls > 0 and terminations > 0


def test_mountain_car_matches_gymnasium_episodes():
  gymnasium = pytest.importorskip("gymnasium")
  env = mountain_car_continuous.MountainCarContinuous()
  uniform = lambda obs, key: jax.random.uniform(key, (1,), jnp.float32, -2, 2)
  outcomes = {}
  for name, policy in [
      ("pump", _pump_or_uniform(1, 1.0)),
      ("uniform", uniform),
  ]:
    before, actions, ts = _rollout(env, policy, 1000, (5,))
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")  # out-of-bounds actions, on purpose
      reference = gymnasium.make("MountainCarContinuous-v0")
      reference.reset(seed=0)
      # Start the reference where our episode starts.
      reference.unwrapped.state = np.asarray(
          [before.inner.position[0], before.inner.velocity[0]], np.float32
      )
      for t in range(1000):
        obs_ref, r_ref, terminated, truncated, _ = reference.step(actions[t])
        np.testing.assert_allclose(ts.observation[t], obs_ref, atol=2e-5)
        np.testing.assert_allclose(ts.reward[t], r_ref, rtol=1e-5, atol=1e-5)
        assert (ts.step_type[t] == base.LAST) == (terminated or truncated)
        assert ts.discount[t] == (0.0 if terminated else 1.0)
        if terminated or truncated:
          outcomes[name] = ("terminated" if terminated else "truncated", t + 1)
          break
  assert outcomes["pump"][0] == "terminated"
  assert outcomes["uniform"] == ("truncated", 999)


def test_mountain_car_goal_reward_and_action_penalty():
  env = mountain_car_continuous.MountainCarContinuous()
  state, _ = env.reset(jax.random.PRNGKey(0))
  near_goal = mountain_car_continuous.MountainCarState(
      jnp.float32(0.44), jnp.float32(0.05)
  )
  state = state.replace(inner=near_goal)
  # The penalty uses the action as given (3.0), the force its clip (1.0).
  _, ts = env.step(state, jnp.asarray([3.0], jnp.float32))
  assert int(ts.step_type) == base.LAST and float(ts.discount) == 0.0
  np.testing.assert_allclose(ts.reward, 100.0 - 0.1 * 9.0, rtol=1e-6)


class MountainCarDmEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(
        mountain_car_continuous.MountainCarContinuous(), seed=4
    )

  def make_action(self):
    return np.asarray([0.7], np.float32)


def test_every_continuous_task_in_the_registry_has_finite_bounds():
  continuous_tasks = []
  for name in sorted(registry.FUNCTIONAL_TASKS):
    spec = registry.make(name).action_spec()
    if base.is_discrete(spec):
      continue
    low, high = continuous.action_bounds(spec)
    assert isinstance(spec, specs.BoundedArray) and spec.dtype == np.float32
    assert low.shape == high.shape == spec.shape
    continuous_tasks.append(name)
  assert {"pendulum", "mountain_car_continuous"} <= set(continuous_tasks)


@pytest.mark.parametrize("name", ["pendulum", "mountain_car_continuous"])
def test_continuous_tasks_jit_and_vmap(name):
  env = registry.make(name)
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  state, ts = jax.jit(jax.vmap(env.reset))(keys)
  step = jax.jit(jax.vmap(env.step))
  low, high = continuous.action_bounds(env.action_spec())
  for i in range(5):
    action = jnp.broadcast_to(jnp.where(i % 2, low, high), (3, *low.shape))
    state, ts = step(state, action)
  assert ts.observation.shape == (3, *env.observation_spec().shape)
  assert ts.observation.dtype == jnp.float32
  assert np.all(np.isfinite(ts.observation))
