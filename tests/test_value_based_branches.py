"""The value-based learner's branches under the loop's vmap over seeds
(agents/lib/value_based.py: `every_seed`): the replay gate and the target
copy stay real branches, and mean what they meant as selects."""

import jax
import jax.numpy as jnp
import numpy as np

from agents import dqn, types
from agents.lib import value_based
from configs import dqn as dqn_config
from environments import catch

ENV = catch.Catch()
SPECS = types.EnvSpecs(ENV.observation_spec(), ENV.action_spec())


def test_every_seed_is_the_predicate_unbatched_and_all_of_it_under_vmap():
  assert bool(value_based.every_seed(jnp.array(True)))
  assert not bool(value_based.every_seed(jnp.array(False)))
  seen = []

  def f(pred):
    out = value_based.every_seed(pred)
    seen.append(out.shape)
    return out

  np.testing.assert_array_equal(
      jax.vmap(f)(jnp.array([True, False, True])), [False] * 3
  )
  np.testing.assert_array_equal(
      jax.vmap(f)(jnp.array([True, True])), [True] * 2
  )
  # nested vmaps (seeds, then the device axis) unbatch it at every level
  np.testing.assert_array_equal(
      jax.vmap(jax.vmap(f))(jnp.array([[True], [False]])), [[False]] * 2
  )
  assert seen == [(), (), ()]  # unbatched inside the vmaps


def test_a_cond_on_every_seed_stays_a_branch_under_vmap():
  def f(pred, x):
    return jax.lax.cond(
        value_based.every_seed(pred), lambda: x + 1.0, lambda: x * 2.0
    )

  text = (
      jax.jit(jax.vmap(f)).lower(jnp.array([True, True]), jnp.ones(2)).as_text()
  )
  assert "stablehlo.case" in text and "stablehlo.select" not in text
  np.testing.assert_array_equal(
      jax.vmap(f)(jnp.array([True, True]), jnp.array([1.0, 3.0])), [2.0, 4.0]
  )
  np.testing.assert_array_equal(
      jax.vmap(f)(jnp.array([False, True]), jnp.array([1.0, 3.0])), [2.0, 6.0]
  )


def _trajectory(key):
  """A [T+1, B] = [5, 8] chunk of Catch under random actions."""
  reset_key, action_key = jax.random.split(key)
  env_state, ts = jax.vmap(ENV.reset)(jax.random.split(reset_key, 8))

  def step(carry, key):
    env_state, _ = carry
    action = jax.random.randint(key, (8,), 0, 3, jnp.int32)
    env_state, next_ts = jax.vmap(ENV.step)(env_state, action)
    return (env_state, next_ts), (next_ts, action)

  _, (timesteps, actions) = jax.lax.scan(
      step, (env_state, ts), jax.random.split(action_key, 4)
  )
  timestep = jax.tree.map(
      lambda f, r: jnp.concatenate([f[None], r]), ts, timesteps
  )
  return types.Trajectory(
      timestep=timestep, action=actions, extras={}, actor_state=()
  )


def test_learn_vmapped_over_seeds_branches_as_the_select_did():
  # 32 items per learn call, learning from 64: the first call only measures
  # the loss, the second takes num_updates steps, in every seed; the target
  # is copied at gradient steps 3 and 6.
  c = dqn_config.get_config("catch")
  c.update(
      hidden_sizes=(16, 16),
      min_replay_size=64,
      num_updates=3,
      target_update_period=3,
  )
  agent = dqn.make_agent(
      c,
      SPECS,
      types.RunInfo(
          learn_calls=c.total_env_steps // (c.num_envs * c.rollout_length),
          env_steps_per_learn_call=c.num_envs * c.rollout_length,
      ),
  )
  seeds = 2
  learn = jax.jit(jax.vmap(jax.vmap(agent.learn, axis_name=types.DEVICE_AXIS)))
  text = learn.lower(
      *jax.tree.map(
          lambda x: x[None, None],
          (
              agent.init(jax.random.PRNGKey(0), SPECS),
              _trajectory(jax.random.PRNGKey(0)),
              jax.random.PRNGKey(0),
          ),
      )
  ).as_text()
  assert text.count("stablehlo.case") >= 2  # the replay gate, the target copy

  def batch(trees):
    return jax.tree.map(lambda *x: jnp.stack(x)[:, None], *trees)

  state = batch(
      [agent.init(jax.random.PRNGKey(s), SPECS) for s in range(seeds)]
  )
  init = state
  leaf = lambda tree: np.asarray(jax.tree.leaves(tree)[0])
  for call in range(3):
    keys = [jax.random.PRNGKey(100 * call + s) for s in range(seeds)]
    state, metrics = learn(
        state,
        batch([_trajectory(k) for k in keys]),
        batch([jax.random.fold_in(k, 1) for k in keys]),
    )
    assert np.all(np.isfinite(np.asarray(metrics["loss"])))
    if call == 0:  # not ready: nothing moved, the loss was measured
      jax.tree.map(np.testing.assert_array_equal, state.params, init.params)
      jax.tree.map(
          np.testing.assert_array_equal, state.opt_state, init.opt_state
      )
      np.testing.assert_array_equal(state.gradient_steps, 0)
    else:
      np.testing.assert_array_equal(state.gradient_steps, 3 * call)
      np.testing.assert_array_equal(
          leaf(state.target_params), leaf(state.params)
      )
      assert not np.array_equal(leaf(state.params), leaf(init.params))
