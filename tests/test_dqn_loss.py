"""DQN's loss (agents/dqn.py) on a tiny batch against numbers computed by hand,
with and without Double DQN's target."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_env import specs as dm_specs

from agents import dqn
from agents import types
from agents.lib import value_based
from configs import dqn as dqn_config


def _dqn_loss(monkeypatch, double_q):
  """The batch loss dqn.make_agent hands to the shared learner."""
  captured = {}
  original = value_based.make_from_config

  def capture(config, **kwargs):
    captured.update(kwargs)
    return original(config, **kwargs)

  monkeypatch.setattr(value_based, "make_from_config", capture)
  config = dqn_config.get_config("catch")
  config.hidden_sizes = ()  # Q(s) = W s + b: a linear map set by hand below
  config.double_q = double_q
  config.huber_delta = 1.0
  specs = types.EnvSpecs(
      observation=dm_specs.Array((2,), np.float32),
      action=dm_specs.DiscreteArray(2),
  )
  dqn.make_agent(config, specs, types.RunInfo(1, 1))
  return captured["network"], captured["loss"]


def _linear_params(network, kernel):
  params = network.init(jax.random.PRNGKey(0), jnp.zeros((2,)))
  (dense,) = params["params"].values()
  dense = dict(
      kernel=jnp.asarray(kernel, jnp.float32), bias=jnp.zeros((2,), jnp.float32)
  )
  return {"params": {next(iter(params["params"])): dense}}


# Online Q(s) = s; target Q^-(s) = (s_1, s_0) (actions swapped), so the
# online and the target argmax at s' differ and Double DQN's target is not
# DQN's.
#   item 0: s = (1, 2), a = 0, r = .5, discount .9, s' = (3, 1)
#     Q(s, 0) = 1; Q^-(s') = (1, 3): DQN  y = .5 + .9 * 3 = 3.2, td 2.2
#     argmax Q(s') = 0 -> Q^-(s', 0) = 1: Double y = .5 + .9 * 1 = 1.4, td .4
#   item 1: s = (0, 1), a = 1, r = -1, discount .5, s' = (2, .5)
#     Q(s, 1) = 1; Q^-(s') = (.5, 2): DQN  y = -1 + .5 * 2 = 0, td -1
#     argmax Q(s') = 0 -> Q^-(s', 0) = .5: Double y = -.75, td -1.75
# Huber (delta 1): .5 td^2 if |td| <= 1 else |td| - .5:
#   DQN (1.7, .5); Double DQN (.08, 1.25).
BATCH = dict(
    observation=jnp.array([[1.0, 2.0], [0.0, 1.0]]),
    action=jnp.array([0, 1], jnp.int32),
    reward=jnp.array([0.5, -1.0]),
    discount=jnp.array([0.9, 0.5]),
    next_observation=jnp.array([[3.0, 1.0], [2.0, 0.5]]),
)


@pytest.mark.parametrize(
    "double_q, expected", [(False, [1.7, 0.5]), (True, [0.08, 1.25])]
)
def test_dqn_loss_by_hand(monkeypatch, double_q, expected):
  network, loss = _dqn_loss(monkeypatch, double_q)
  params = _linear_params(network, np.eye(2))
  target_params = _linear_params(network, [[0.0, 1.0], [1.0, 0.0]])
  per_item = loss(params, target_params, BATCH, jax.random.PRNGKey(0))[0]
  chex.assert_shape(per_item, (2,))
  np.testing.assert_allclose(per_item, expected, rtol=1e-6)
  # Only Q(s, a) is trained: the gradient reaches the taken actions' rows.
  grads = jax.grad(
      lambda p: jnp.sum(loss(p, target_params, BATCH, jax.random.PRNGKey(0))[0])
  )(params)
  (dense,) = grads["params"].values()
  # d/dW_a. of huber(td): -huber'(td) * s for the item with action a.
  slope = np.clip(
      np.array([2.2, -1.0] if not double_q else [0.4, -1.75]), -1.0, 1.0
  )
  expected_kernel = np.zeros((2, 2))
  expected_kernel[:, 0] = -slope[0] * np.array([1.0, 2.0])
  expected_kernel[:, 1] = -slope[1] * np.array([0.0, 1.0])
  np.testing.assert_allclose(
      dense["kernel"], expected_kernel, rtol=1e-6, atol=1e-7
  )
