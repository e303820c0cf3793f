"""DDPG (agents/ddpg.py): the critic's target and loss, the actor's loss
and that each part of the parameter tree gets exactly its own gradient, the
importance weights on the critic only, and the two learning rates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import ddpg, types
from agents.lib import value_based
from agents.replay import base as replay_base
from configs import ddpg as ddpg_config
from environments import pendulum

ENV = pendulum.Pendulum()
SPECS = types.EnvSpecs(ENV.observation_spec(), ENV.action_spec())
N = 6


def _setup():
  config = ddpg_config.get_config("pendulum")
  config.hidden_sizes = (8,)
  config.reward_scale = 0.5
  network = ddpg.make_network(config, SPECS)
  keys = jax.random.split(jax.random.PRNGKey(0), 8)
  params = network.init(keys[0], jnp.zeros((3,)))
  # a target network that differs from the online one
  target = jax.tree.map(
      lambda x, k: x + 0.3 * jax.random.normal(k, x.shape),
      params,
      jax.tree.unflatten(
          jax.tree.structure(params),
          list(jax.random.split(keys[1], len(jax.tree.leaves(params)))),
      ),
  )
  batch = dict(
      observation=jax.random.normal(keys[2], (N, 3)),
      action=jax.random.uniform(keys[3], (N, 1), minval=-2, maxval=2),
      reward=jax.random.normal(keys[4], (N,)),
      discount=jnp.array([0.99, 0.99, 0.0, 0.99, 0.99, 0.99]),
      next_observation=jax.random.normal(keys[5], (N, 3)),
      valid=jnp.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0]),
  )
  return config, network, params, target, batch


def _critic_and_actor(params, network, obs, action=None):
  """Q(x, u) and mu(x) by calling the two submodules' parameters by hand."""
  inner = params["params"]
  actor = ddpg.Actor(network.low, network.high, network.hidden_sizes)
  critic = ddpg.Critic(network.hidden_sizes)
  mu = actor.apply({"params": inner["actor"]}, obs)
  q = critic.apply(
      {"params": inner["critic"]}, obs, mu if action is None else action
  )
  return q, mu


def test_critic_loss_against_a_hand_computation():
  config, network, params, target, batch = _setup()
  per_item, priority = ddpg.critic_loss(
      network, params, target, batch, config.reward_scale
  )
  q_tm1, _ = _critic_and_actor(
      params, network, batch["observation"], batch["action"]
  )
  q_t, _ = _critic_and_actor(target, network, batch["next_observation"])
  y = 0.5 * batch["reward"] + batch["discount"] * q_t  # Q'(x', mu'(x'))
  np.testing.assert_allclose(per_item, 0.5 * (y - q_tm1) ** 2, rtol=1e-5)
  np.testing.assert_allclose(priority, np.abs(y - q_tm1), rtol=1e-5)
  # the online actor is not in the target
  q_online, _ = _critic_and_actor(params, network, batch["next_observation"])
  assert not np.allclose(q_online, q_t)


def test_actor_loss_is_minus_mean_q_at_mu_over_valid_items():
  _, network, params, _, batch = _setup()
  q, _ = _critic_and_actor(params, network, batch["observation"])
  valid = np.asarray(batch["valid"])
  want = -np.sum(valid * np.asarray(q)) / valid.sum()
  np.testing.assert_allclose(
      ddpg.actor_loss(network, params, batch), want, rtol=1e-5
  )


def _objective(network, config):
  def loss(params, target_params, batch, key):
    del key
    return (
        *ddpg.critic_loss(
            network, params, target_params, batch, config.reward_scale
        ),
        {},
    )

  def objective(params, target_params, sample, key):
    critic, (priorities, _) = value_based.weighted_loss(
        loss, params, target_params, sample, key
    )
    return critic + ddpg.actor_loss(network, params, sample.items), priorities

  return objective


def test_each_part_gets_its_own_gradient_and_weights_reach_the_critic_only():
  """Through the agent's objective: d/d actor = the actor loss's gradient
  (dQ/du dmu/dtheta; the critic term has none), d/d critic = the weighted
  critic loss's gradient (the actor term has none)."""
  captured = {}
  original = value_based.make_from_config

  def capture(config, **kwargs):
    captured.update(kwargs)
    return original(config, **kwargs)

  config, network, params, target, batch = _setup()
  try:
    value_based.make_from_config = capture
    ddpg.make_agent(config, SPECS, types.RunInfo(10, 16))
  finally:
    value_based.make_from_config = original
  objective = captured["objective"]
  weights = jnp.array([0.5, 2.0, 1.0, 3.0, 0.25, 1.5])
  sample = replay_base.ReplaySample(
      items=batch, indices=jnp.arange(N), weights=weights
  )
  key = jax.random.PRNGKey(0)
  grads = jax.grad(lambda p: objective(p, target, sample, key)[0])(params)

  def weighted_critic(p):
    per_item, _ = ddpg.critic_loss(network, p, target, batch, 0.5)
    valid = batch["valid"]
    return jnp.sum(weights * valid * per_item) / jnp.sum(valid)

  def actor_only(actor_params):
    p = {"params": dict(params["params"], actor=actor_params)}
    q, _ = _critic_and_actor(p, network, batch["observation"])
    return -jnp.sum(batch["valid"] * q) / jnp.sum(batch["valid"])

  want_critic = jax.grad(weighted_critic)(params)["params"]["critic"]
  want_actor = jax.grad(actor_only)(params["params"]["actor"])
  for got, want in zip(
      jax.tree.leaves(grads["params"]["critic"]), jax.tree.leaves(want_critic)
  ):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
  for got, want in zip(
      jax.tree.leaves(grads["params"]["actor"]), jax.tree.leaves(want_actor)
  ):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
  assert any(np.abs(g).max() > 0 for g in jax.tree.leaves(want_actor))


def test_adam_steps_the_actor_and_the_critic_at_their_own_rates():
  """Adam's first step moves every parameter with a non-zero gradient by
  its learning rate (|m / sqrt(v)| = 1)."""
  config, network, params, _, _ = _setup()
  config.actor_learning_rate, config.learning_rate = 1e-4, 1e-3
  optimizer = ddpg.make_optimizer(config)
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = optimizer.update(grads, optimizer.init(params), params)
  for part, rate in (("actor", 1e-4), ("critic", 1e-3)):
    for leaf in jax.tree.leaves(updates["params"][part]):
      np.testing.assert_allclose(np.abs(leaf), rate, rtol=1e-3)


@pytest.mark.parametrize("noise", ["gaussian", "ou"])
def test_acting_is_mu_in_evaluation_and_in_bounds(noise):
  config = ddpg_config.get_config("pendulum")
  config.hidden_sizes = (8,)
  config.exploration_noise = noise
  agent = ddpg.make_agent(config, SPECS, types.RunInfo(10, 16))
  state = agent.init(jax.random.PRNGKey(0), SPECS)
  env_state, ts = ENV.reset(jax.random.PRNGKey(1))
  del env_state
  actor_state = agent.initial_actor_state(jax.random.PRNGKey(2))
  params = agent.actor_params(state)
  network = ddpg.make_network(config, SPECS)
  greedy, _, _ = agent.act(
      params, actor_state, ts, jax.random.PRNGKey(3), evaluation=True
  )
  np.testing.assert_array_equal(
      greedy, ddpg.policy(network, state.params, ts.observation)
  )
  actions = jax.vmap(lambda k: agent.act(params, actor_state, ts, k)[0])(
      jax.random.split(jax.random.PRNGKey(4), 200)
  )
  assert float(jnp.abs(actions).max()) <= 2.0
  assert float(jnp.std(actions)) > 0.05
