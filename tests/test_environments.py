"""The environment contract: dm_env semantics, specs, references (bsuite, gymnax)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import absltest
from dm_env import test_utils

from environments import base
from environments import cartpole
from environments import catch
from environments import dm_env_adapter
from environments import pendulum
from environments import registry

TASKS = {
    "catch": catch.Catch,
    "cartpole": cartpole.CartPole,
    "pendulum": pendulum.Pendulum,
}


class CatchDmEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(catch.Catch(), seed=1)


class CartPoleDmEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(cartpole.CartPole(), seed=2)


class PendulumDmEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(pendulum.Pendulum(), seed=3)

  def make_action(self):
    return np.asarray([0.5], np.float32)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_jit_vmap_rollout_respects_specs(name):
  env = registry.make(name)
  keys = jax.random.split(jax.random.PRNGKey(0), 7)
  state, ts = jax.jit(jax.vmap(env.reset))(keys)
  obs_spec = env.observation_spec()
  chex.assert_shape(ts.observation, (7, *obs_spec.shape))
  step = jax.jit(jax.vmap(env.step))
  action_spec = env.action_spec()
  for i in range(30):
    if hasattr(action_spec, "num_values"):
      action = jnp.full((7,), i % action_spec.num_values, jnp.int32)
    else:
      action = jnp.full((7, *action_spec.shape), 0.3, jnp.float32)
    state, ts = step(state, action)
    assert ts.observation.dtype == obs_spec.dtype
    chex.assert_shape(ts.observation, (7, *obs_spec.shape))
    chex.assert_tree_all_finite(ts)


def test_termination_then_first_step_ignores_action():
  env = catch.Catch()
  state, ts = env.reset(jax.random.PRNGKey(0))
  step = jax.jit(env.step)
  types = [int(ts.step_type)]
  for _ in range(env.rows - 1):
    state, ts = step(state, jnp.int32(1))
    types.append(int(ts.step_type))
  assert types == [base.FIRST] + [base.MID] * (env.rows - 2) + [base.LAST]
  assert float(ts.discount) == 0.0 and abs(float(ts.reward)) == 1.0
  state, ts = step(state, jnp.int32(2))
  assert int(ts.step_type) == base.FIRST
  assert float(ts.reward) == 0.0 and float(ts.discount) == 1.0
  assert int(state.episode_step) == 0


def test_truncation_has_discount_one():
  env = cartpole.CartPole(max_episode_steps=5)
  state, ts = env.reset(jax.random.PRNGKey(0))
  for _ in range(5):
    state, ts = env.step(state, jnp.int32(0) if _ % 2 else jnp.int32(1))
  assert int(ts.step_type) == base.LAST
  assert float(ts.discount) == 1.0  # truncated, not terminated


def test_cartpole_terminates_with_discount_zero():
  env = cartpole.CartPole()
  state, ts = env.reset(jax.random.PRNGKey(0))
  step = jax.jit(env.step)
  n = 0
  while not ts.last():
    state, ts = step(state, jnp.int32(1))  # always push right: falls fast
    n += 1
  assert n < 100 and float(ts.discount) == 0.0 and float(ts.reward) == 1.0


def test_same_key_same_episode_stream():
  env = catch.Catch()
  run = lambda key: jax.lax.scan(
      lambda s, a: env.step(s, a)[::-1][::-1],
      env.reset(key)[0],
      jnp.ones(40, jnp.int32),
  )[0]
  a = run(jax.random.PRNGKey(5))
  b = run(jax.random.PRNGKey(5))
  chex.assert_trees_all_equal(a, b)


def test_catch_matches_bsuite_move_for_move():
  from bsuite.environments import catch as bsuite_catch

  rng = np.random.default_rng(0)
  for seed in range(5):
    reference = bsuite_catch.Catch(seed=seed)
    ref_ts = reference.reset()
    ball_x = int(np.argmax(ref_ts.observation[0]))
    env = catch.Catch()
    state, ts = env.reset(jax.random.PRNGKey(0))
    state = state.replace(
        inner=state.inner.replace(ball_x=jnp.asarray(ball_x, jnp.int32))
    )
    np.testing.assert_array_equal(
        env._observation(state.inner), ref_ts.observation
    )
    while not ref_ts.last():
      action = int(rng.integers(3))
      ref_ts = reference.step(action)
      state, ts = env.step(state, jnp.int32(action))
      np.testing.assert_array_equal(ts.observation, ref_ts.observation)
      assert float(ts.reward) == ref_ts.reward
      assert float(ts.discount) == ref_ts.discount
      assert int(ts.step_type) == int(ref_ts.step_type)


def test_bsuite_host_task_is_seeded_by_the_run_seed():
  """catch/0's bsuite setting leaves the seed None (a fresh OS draw in every
  process); make_host seeds it, so a host-loop run repeats across processes."""

  def ball_columns(seed, episodes=12):
    env = registry.make_host("bsuite:catch/0", seed)
    return [int(np.argmax(env.reset().observation[0])) for _ in range(episodes)]

  assert ball_columns(0) == ball_columns(0)
  assert ball_columns(0) != ball_columns(1)
  # the same columns bsuite draws with that seed
  from bsuite.environments import catch as bsuite_catch

  reference = bsuite_catch.Catch(seed=0)
  assert ball_columns(0) == [
      int(np.argmax(reference.reset().observation[0])) for _ in range(12)
  ]


def test_cartpole_matches_gymnax_step_by_step():
  gymnax = pytest.importorskip("gymnax")
  from gymnax.environments.classic_control import cartpole as gx_cartpole

  gx_env = gx_cartpole.CartPole()
  gx_params = gx_env.default_params
  env = cartpole.CartPole()
  rng = np.random.default_rng(1)
  for seed in range(3):
    state, ts = env.reset(jax.random.PRNGKey(seed))
    inner = state.inner
    gx_state = gx_cartpole.EnvState(
        x=inner.x,
        x_dot=inner.x_dot,
        theta=inner.theta,
        theta_dot=inner.theta_dot,
        time=0,
    )
    for _ in range(200):
      action = int(rng.integers(2))
      obs_gx, gx_state, reward_gx, done_gx, _ = gx_env.step_env(
          jax.random.PRNGKey(0), gx_state, action, gx_params
      )
      state, ts = env.step(state, jnp.int32(action))
      np.testing.assert_allclose(ts.observation, obs_gx, rtol=1e-5, atol=1e-6)
      assert bool(ts.last()) == bool(done_gx)
      if ts.last():
        break


def test_registry_rejects_unknown_tasks():
  with pytest.raises(registry.UnknownTaskError, match="known tasks"):
    registry.make("pong")
  with pytest.raises(registry.UnknownTaskError, match="bad parameters"):
    registry.make("catch", wingspan=3)
