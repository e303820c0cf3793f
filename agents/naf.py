"""NAF: Gu, Lillicrap, Sutskever & Levine 2016, "Continuous Deep Q-Learning
with Model-based Acceleration", ICML (Normalized Advantage Functions).

Q-learning with continuous actions u in [low, high]^d: the Q-function is
written so that its maximum over u is known in closed form (Section 4, eqs.
2-4), so the target and the greedy action need no inner optimisation:

  Q(x, u | theta) = V(x | theta) + A(x, u | theta)               eq. (2)
                                                  -> `q_value`
  A(x, u | theta) = -1/2 (u - mu(x))^T P(x) (u - mu(x))           eq. (3)
                  = -1/2 || L(x)^T (u - mu(x)) ||^2   -> `advantage`
  P(x) = L(x) L(x)^T, L lower-triangular, its diagonal exponentiated (so
                  P is positive definite)                        eq. (4)
                                                  -> `lower_triangular`
  argmax_u Q(x, u) = mu(x), max_u Q(x, u) = V(x)
  mu(x) = low + (tanh(.) + 1)(high - low)/2, bounded to the action bounds
                  (continuous.scale_to_bounds)                -> `policy`
  target y = r + gamma * discount * V'(x' | theta')             (Algorithm 1)
  L(theta) = E[ 1/2 (y - Q(x, u | theta))^2 ]  -> rlax.l2_loss, per item
  theta' <- tau theta + (1 - tau) theta'  after every gradient step (soft
                  target updates, `target_update_tau`)

V, mu and the d(d+1)/2 entries of L are heads of one MLP torso (the paper:
two hidden layers of 200 units, `hidden_sizes`). The paper's batch
normalisation is left out: the observations of the tasks here are already of
order one, and batch statistics would have to be kept out of the target
network's and the actor's forward passes (one more state to thread through
the learner) for no gain at this scale.

Replay (agents/replay: uniform, or prioritized with its importance weights
and |y - Q| as priority; imagination once its models take continuous
actions, the paper's imagination rollouts), `num_updates` gradient steps
per learn call (the paper uses several per environment step), Adam, soft
targets and the exploration noise (Gaussian or Ornstein-Uhlenbeck, agents/
lib/continuous.py, the OU state reset at each episode's first step) are the
shared value-based learner of agents/lib/value_based.py; this file holds the
network, Q and the loss.

Pure functions of the parameters, for callers outside the learner (e.g.
model rollouts under the current policy): `make_network(config, specs)`,
then `policy(network, params, observation)` = mu(x) and `q_value(network,
params, observation, action)` = Q(x, u), any batch shape.
"""

from __future__ import annotations

from typing import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import rlax

from agents import types
from agents.lib import continuous
from agents.lib import networks
from agents.lib import value_based

ACTION_SPACES = ("continuous",)


def lower_triangular(entries: chex.Array, d: int) -> chex.Array:
  """L [..., d, d] from its d(d+1)/2 free entries [..., d(d+1)/2] (row-major
  lower triangle), the diagonal exponentiated (eq. 4)."""
  rows, cols = np.tril_indices(d)
  entries = jnp.where(rows == cols, jnp.exp(entries), entries)
  chol = jnp.zeros((*entries.shape[:-1], d, d), entries.dtype)
  return chol.at[..., rows, cols].set(entries)


def advantage(
    action: chex.Array, mu: chex.Array, chol: chex.Array
) -> chex.Array:
  """A = -1/2 (u - mu)^T L L^T (u - mu) (eq. 3), any batch shape [...]."""
  diff = action - mu
  projected = jnp.einsum("...ij,...i->...j", chol, diff)  # L^T (u - mu)
  return -0.5 * jnp.sum(jnp.square(projected), axis=-1)


class NAFNetwork(nn.Module):
  """x -> (V(x) [...], mu(x) [..., d], L(x) [..., d, d])."""

  low: Sequence[float]
  high: Sequence[float]
  hidden_sizes: Sequence[int]
  observation_rank: int = 1

  @nn.compact
  def __call__(self, observation: chex.Array):
    d = len(self.low)
    x = networks.flatten_observation(observation, self.observation_rank)
    x = networks.MLP(self.hidden_sizes)(x)
    value = jnp.squeeze(nn.Dense(1, name="value")(x), -1)
    unit = jnp.tanh(nn.Dense(d, name="mu")(x))
    mu = continuous.scale_to_bounds(
        unit, jnp.asarray(self.low), jnp.asarray(self.high)
    )
    entries = nn.Dense(d * (d + 1) // 2, name="l_entries")(x)
    return value, mu, lower_triangular(entries, d)


def make_network(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs
) -> NAFNetwork:
  """The network of `config` for the task's specs (UserError for a spec
  without finite bounds)."""
  low, high = continuous.action_bounds(specs.action)
  return NAFNetwork(
      low=tuple(float(v) for v in low),
      high=tuple(float(v) for v in high),
      hidden_sizes=tuple(config.hidden_sizes),
      observation_rank=len(specs.observation.shape),
  )


def policy(network: NAFNetwork, params, observation: chex.Array) -> chex.Array:
  """The greedy action mu(x) = argmax_u Q(x, u)."""
  return network.apply(params, observation)[1]


def q_value(
    network: NAFNetwork, params, observation: chex.Array, action: chex.Array
) -> chex.Array:
  """Q(x, u) = V(x) + A(x, u) (eq. 2)."""
  value, mu, chol = network.apply(params, observation)
  return value + advantage(action, mu, chol)


def td_errors(
    network: NAFNetwork,
    params,
    target_params,
    batch,
    reward_scale: float = 1.0,
) -> chex.Array:
  """y - Q(x, u) with y = c r + gamma * discount * V'(x') (batch["discount"]
  already holds gamma * discount; c = `reward_scale`)."""
  q_tm1 = q_value(network, params, batch["observation"], batch["action"])
  v_t = network.apply(target_params, batch["next_observation"])[0]
  target = reward_scale * batch["reward"] + batch["discount"] * v_t
  return jax.lax.stop_gradient(target) - q_tm1


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  network = make_network(config, specs)

  def loss(params, target_params, batch, key):
    del key
    td_error = td_errors(
        network, params, target_params, batch, config.reward_scale
    )
    # priority for prioritized replay: |delta| (Schaul et al. 2016)
    return rlax.l2_loss(td_error), jnp.abs(td_error), {}

  acting = value_based.continuous_acting_from_config(
      lambda params, observation: policy(network, params, observation),
      config,
      specs.action,
  )
  return value_based.make_from_config(
      config,
      specs=specs,
      run=run,
      name="naf",
      network=network,
      loss=loss,
      acting=acting,
  )
