"""The shared value-based learner (agents/lib/value_based.py): the valid mask,
the minimum replay size, the target period, priorities handed to the buffer,
and, for every DQN-family agent, that its loss receives the importance
weights (a test that fails if they are dropped)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import dqn, er_dqn, iqn, qr_dqn, types
from agents.lib import value_based
from agents.replay import base as replay_base
from agents.replay import sum_tree
from configs import dqn as dqn_config
from configs import er_dqn as er_dqn_config
from configs import iqn as iqn_config
from configs import qr_dqn as qr_dqn_config
from environments import catch


def _run(config):
  """The RunInfo of `config` with one learn call per num_envs *
  rollout_length env steps (the compiled loop's, whole segments)."""
  per_call = config.num_envs * config.rollout_length
  return types.RunInfo(
      learn_calls=config.total_env_steps // per_call,
      env_steps_per_learn_call=per_call,
  )


AGENTS = {
    "dqn": (dqn, dqn_config),
    "qr_dqn": (qr_dqn, qr_dqn_config),
    "iqn": (iqn, iqn_config),
    "er_dqn": (er_dqn, er_dqn_config),
}
ENV = catch.Catch()
SPECS = types.EnvSpecs(ENV.observation_spec(), ENV.action_spec())


def _small_config(agent_name, **overrides):
  c = AGENTS[agent_name][1].get_config("catch")
  c.hidden_sizes = (16, 16)
  c.update(
      dict(
          num_quantiles=5,
          num_expectiles=5,
          num_tau_samples=4,
          num_tau_act_samples=4,
          num_imputation_steps=2,
      )
      if agent_name != "dqn"
      else {}
  )
  c.update(overrides)
  return c


def _random_step(carry, key):
  env_state, _ = carry
  action = jax.random.randint(key, (8,), 0, 3, jnp.int32)
  env_state, next_ts = jax.vmap(ENV.step)(env_state, action)
  return (env_state, next_ts), (next_ts, action)


@jax.jit
def _trajectory(key):
  """A [T+1, B] = [5, 8] chunk of Catch under random actions."""
  reset_key, action_key = jax.random.split(key)
  env_state, ts = jax.vmap(ENV.reset)(jax.random.split(reset_key, 8))

  _, (timesteps, actions) = jax.lax.scan(
      _random_step, (env_state, ts), jax.random.split(action_key, 4)
  )
  timestep = jax.tree.map(
      lambda f, r: jnp.concatenate([f[None], r]), ts, timesteps
  )
  return types.Trajectory(
      timestep=timestep, action=actions, extras={}, actor_state=()
  )


def _learner(agent):
  """agent.learn under the device axis the loops provide (size 1), jitted."""
  learn = jax.vmap(agent.learn, axis_name=types.DEVICE_AXIS)
  return jax.jit(
      lambda s, t, k: jax.tree.map(
          lambda x: x[0], learn(*jax.tree.map(lambda x: x[None], (s, t, k)))
      )
  )


# ---- importance weights reach every agent's loss -----------------------------


def _captured(agent_name, monkeypatch, **overrides):
  """(config, the loss and network the agent hands to the shared learner)."""
  captured = {}
  original = value_based.make_from_config

  def capture(config, **kwargs):
    captured.update(kwargs)
    return original(config, **kwargs)

  monkeypatch.setattr(value_based, "make_from_config", capture)
  config = _small_config(agent_name, **overrides)
  AGENTS[agent_name][0].make_agent(config, SPECS, _run(config))
  return config, captured


@pytest.mark.parametrize("agent_name", sorted(AGENTS))
def test_loss_receives_the_importance_weights(agent_name, monkeypatch):
  _, captured = _captured(agent_name, monkeypatch)
  loss, network = captured["loss"], captured["network"]
  key = jax.random.PRNGKey(0)
  items = value_based.transitions_from_trajectory(_trajectory(key), 0.99)
  n = items["valid"].shape[0]
  obs = jnp.zeros(SPECS.observation.shape)
  params = (
      network.init(key, obs, key)
      if captured.get("network_takes_key")
      else network.init(key, obs)
  )
  target = jax.tree.map(lambda x: x + 0.1, params)
  weights = (
      jax.random.uniform(jax.random.PRNGKey(1), (n,), minval=0.2, maxval=3.0)
      .at[3]
      .set(0.0)
  )
  items = dict(items, valid=jnp.ones((n,)), reward=jnp.linspace(-1, 1, n))
  sample = replay_base.ReplaySample(
      items=items, indices=jnp.arange(n), weights=weights
  )
  loss_key = jax.random.PRNGKey(2)
  grad = jax.grad(
      lambda p: value_based.weighted_loss(loss, p, target, sample, loss_key)[0]
  )(params)

  def by_hand(p):  # the weighted mean written out from the per-item losses
    per_item, _, _ = loss(p, target, items, loss_key)
    return jnp.sum(weights * per_item) / n

  expected = jax.grad(by_hand)(params)
  jax.tree.map(
      functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-6),
      grad,
      expected,
  )
  # dropping the weights would give the unweighted gradient: it differs
  unweighted = jax.grad(
      lambda p: jnp.mean(loss(p, target, items, loss_key)[0])
  )(params)
  assert not all(
      jax.tree.leaves(
          jax.tree.map(
              lambda a, b: np.allclose(a, b, rtol=1e-3), grad, unweighted
          )
      )
  )
  # an item of weight 0 does not matter, whatever its reward
  changed = replay_base.ReplaySample(
      items=dict(items, reward=items["reward"].at[3].set(50.0)),
      indices=sample.indices,
      weights=weights,
  )
  grad_changed = jax.grad(
      lambda p: value_based.weighted_loss(loss, p, target, changed, loss_key)[0]
  )(params)
  jax.tree.map(
      functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-6),
      grad_changed,
      grad,
  )


@pytest.mark.parametrize("agent_name", sorted(AGENTS))
def test_loss_gives_one_non_negative_priority_per_item(agent_name, monkeypatch):
  _, captured = _captured(agent_name, monkeypatch)
  loss, network = captured["loss"], captured["network"]
  key = jax.random.PRNGKey(0)
  items = value_based.transitions_from_trajectory(_trajectory(key), 0.99)
  obs = jnp.zeros(SPECS.observation.shape)
  params = (
      network.init(key, obs, key)
      if captured.get("network_takes_key")
      else network.init(key, obs)
  )
  per_item, priorities, _ = loss(params, params, items, key)
  assert priorities.shape == per_item.shape == items["valid"].shape
  assert (np.asarray(priorities) >= 0).all()
  # an item whose reward moves away from its prediction becomes more surprising
  _, moved, _ = loss(
      params, params, dict(items, reward=items["reward"].at[0].add(100.0)), key
  )
  assert moved[0] > priorities[0]
  np.testing.assert_allclose(moved[1:], priorities[1:], rtol=1e-5)


# ---- the learner -------------------------------------------------------------


def test_invalid_items_weigh_nothing():
  def loss(params, target_params, batch, key):
    del target_params, key
    per_item = (params - batch["reward"]) ** 2
    return per_item, jnp.abs(params - batch["reward"]), {}

  items = dict(
      reward=jnp.array([1.0, 2.0, 100.0]), valid=jnp.array([1.0, 1.0, 0.0])
  )
  sample = replay_base.ReplaySample(
      items=items, indices=jnp.arange(3), weights=jnp.array([1.0, 0.5, 1.0])
  )
  value, (priorities, _) = value_based.weighted_loss(
      loss, 0.0, None, sample, None
  )
  # (1 * 1 + 0.5 * 4) / 2 valid items; the invalid one adds nothing
  np.testing.assert_allclose(value, 1.5)
  np.testing.assert_allclose(priorities, [1.0, 2.0, 0.0])


def _agent(kind="uniform", **overrides):
  config = _small_config("dqn", replay=kind, **overrides)
  return config, dqn.make_agent(config, SPECS, _run(config))


def test_no_gradient_step_before_the_minimum_replay_size():
  # 32 items per learn call; learning starts once 64 are held
  _, agent = _agent(min_replay_size=64, num_updates=3)
  learn = _learner(agent)
  state = agent.init(jax.random.PRNGKey(0), SPECS)
  keys = jax.random.split(jax.random.PRNGKey(1), 6)
  state1, _ = learn(state, _trajectory(keys[0]), keys[1])
  assert int(state1.gradient_steps) == 0
  jax.tree.map(np.testing.assert_array_equal, state1.params, state.params)
  jax.tree.map(np.testing.assert_array_equal, state1.opt_state, state.opt_state)
  state2, _ = learn(state1, _trajectory(keys[2]), keys[3])
  assert int(state2.gradient_steps) == 3  # num_updates per call
  assert int(state2.env_steps) == 64
  assert not np.allclose(
      jax.tree.leaves(state2.params)[0], jax.tree.leaves(state.params)[0]
  )


def test_target_copied_every_target_update_period_gradient_steps():
  _, agent = _agent(min_replay_size=1, num_updates=1, target_update_period=3)
  learn = _learner(agent)
  state = agent.init(jax.random.PRNGKey(0), SPECS)
  leaf = lambda tree: np.asarray(jax.tree.leaves(tree)[0])
  initial_target = leaf(state.target_params)
  for step in range(1, 7):
    key = jax.random.PRNGKey(step)
    state, _ = learn(state, _trajectory(key), jax.random.fold_in(key, 1))
    assert int(state.gradient_steps) == step
    if step % 3 == 0:
      np.testing.assert_array_equal(
          leaf(state.target_params), leaf(state.params)
      )
      copied = leaf(state.target_params)
    else:
      assert not np.array_equal(leaf(state.target_params), leaf(state.params))
      np.testing.assert_array_equal(
          leaf(state.target_params), initial_target if step < 3 else copied
      )


def test_priorities_reach_the_buffer_only_once_learning_starts():
  _, agent = _agent(
      "prioritized", min_replay_size=64, num_updates=2, replay_capacity=128
  )
  learn = _learner(agent)
  state = agent.init(jax.random.PRNGKey(0), SPECS)
  keys = jax.random.split(jax.random.PRNGKey(1), 4)
  state1, _ = learn(state, _trajectory(keys[0]), keys[1])
  leaves = sum_tree.leaves(state1.replay.tree, 128)
  np.testing.assert_array_equal(leaves[:32], 1.0)  # all at max priority
  assert int(state1.replay.updates) == 0
  state2, _ = learn(state1, _trajectory(keys[2]), keys[3])
  assert int(state2.replay.updates) == 2  # one per gradient step
  leaves = np.asarray(sum_tree.leaves(state2.replay.tree, 128))
  assert (leaves[:64] != 1.0).any()  # sampled items got their |TD error|
  assert (leaves[64:] == 0).all()


def test_anneal_steps_come_from_the_config():
  config, agent = _agent(
      "prioritized",
      total_env_steps=6400,
      num_envs=8,
      rollout_length=4,
      num_updates=3,
  )
  del agent
  from agents import replay

  buffer = replay.make_replay(
      config,
      SPECS,
      gradient_steps=value_based.total_gradient_steps(config, _run(config)),
  )
  assert buffer.anneal_steps == 6400 // 32 * 3
