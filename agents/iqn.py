"""IQN: Dabney, Ostrovski, Silver & Munos 2018, "Implicit quantile networks
for distributional reinforcement learning", ICML.

The network maps (s, tau), tau ~ U[0, 1], to the tau-quantile Z_tau(s, a) of
the return of every action (eq. 4 and Section 3.1):

  psi(s)         state torso: MLP over all hidden layers but the last
  phi_j(tau)     = ReLU( sum_{i=0}^{n-1} cos(pi i tau) w_ij + b_j ),  n = 64
                 cosine features (Section 3.1, eq. 4)    -> `ImplicitQuantileNetwork`
  Z_tau(s, .)    = f(psi(s) * phi(tau))  (elementwise product; f = the last
                 hidden layer and a linear head)

Taus are drawn per transition from the key the shared learner hands over
(`network_takes_key=True`):

  Q(s, a)  = (1/K) sum_k Z_{tau~_k}(s, a),  K = `num_tau_act_samples` (eq. 5:
             the greedy policy, risk-neutral beta = identity)   -> `action_values`
  a*       = argmax_a of that K-sample Q at s' (target network; online with
             `double_q`)
  delta_ij = r + gamma * discount * Z_{tau'_j}(s', a*; theta^-) - Z_{tau_i}(s, a)
  loss     = sum_{i=1}^{N} (1/N') sum_{j=1}^{N'} rho^kappa_{tau_i}(delta_ij)  (eq. 3)

with N = N' = `num_tau_samples` and rho^kappa the quantile Huber loss of
QR-DQN (kappa = `huber_param`). For one transition this is
`rlax.quantile_q_learning` with the sampled taus as `tau_q_tm1`, the K-sample
quantiles as the action selector and the N'-sample target quantiles as the
target distribution (rlax drops eq. 3's 1/kappa; kappa = 1 here); we call
its tested twin, `distributional.quantile_q_learning` (shared with QR-DQN),
which is faster on XLA:CPU.

The learned distribution (`return_distribution`) is the quantile function
read at `RETURN_DISTRIBUTION_TAUS` evenly spaced taus (i + 0.5) / M, equally
weighted.

Replay, target network, epsilon-greedy acting and importance weights are the
shared learner in `agents/lib/value_based.py`; the cosine-embedding network
lives here because only IQN uses it.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from agents import types
from agents.lib import distributional
from agents.lib import networks
from agents.lib import value_based

# Taus at which `return_distribution` reads the learned quantile function.
RETURN_DISTRIBUTION_TAUS = 1000


class ImplicitQuantileNetwork(nn.Module):
  """Z_tau(s, .) for taus sampled from `key` (call) or given (`quantiles`)."""

  num_actions: int
  hidden_sizes: Sequence[int]
  observation_rank: int = 1
  num_cosine_features: int = 64
  default_num_taus: int = 32

  def setup(self):
    self.torso = networks.MLP(tuple(self.hidden_sizes[:-1]))
    # phi(tau) has the torso's width (needs >= 2 hidden layers; see make_network).
    self.tau_embedding = nn.Dense(int(self.hidden_sizes[-2]))
    self.head = networks.MLP(
        (self.hidden_sizes[-1], self.num_actions), activate_final=False
    )

  def quantiles(self, observation: chex.Array, taus: chex.Array) -> chex.Array:
    """observation [*B, *obs], taus [*B, T] -> quantiles [*B, T, num_actions]."""
    x = networks.flatten_observation(observation, self.observation_rank)
    state_embedding = self.torso(x)  # psi(s): [*B, D]
    features = jnp.arange(self.num_cosine_features, dtype=jnp.float32)
    cosines = jnp.cos(jnp.pi * features * taus[..., None])  # [*B, T, 64]
    tau_embedding = nn.relu(self.tau_embedding(cosines))  # phi(tau): [*B, T, D]
    return self.head(state_embedding[..., None, :] * tau_embedding)

  def __call__(
      self,
      observation: chex.Array,
      key: chex.PRNGKey,
      num_taus: int | None = None,
  ) -> tuple[chex.Array, chex.Array]:
    """Samples taus ~ U[0, 1] per item; returns (quantiles, taus)."""
    batch_shape = observation.shape[: observation.ndim - self.observation_rank]
    taus = jax.random.uniform(
        key, (*batch_shape, num_taus or self.default_num_taus)
    )
    return self.quantiles(observation, taus), taus


def make_network(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs
) -> ImplicitQuantileNetwork:
  if len(config.hidden_sizes) < 2:
    raise ValueError(
        "IQN needs config.hidden_sizes with at least two layers "
        "(a state torso before the tau embedding, then f); got "
        f"{tuple(config.hidden_sizes)}"
    )
  return ImplicitQuantileNetwork(
      num_actions=int(specs.action.num_values),
      hidden_sizes=tuple(config.hidden_sizes),
      observation_rank=len(specs.observation.shape),
      num_cosine_features=int(config.num_cosine_features),
      default_num_taus=int(config.num_tau_act_samples),
  )


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  network = make_network(config, specs)
  num_taus, num_act_taus = config.num_tau_samples, config.num_tau_act_samples

  def action_values(params, observation, key):
    quantiles, _ = network.apply(params, observation, key, num_act_taus)
    return jnp.mean(quantiles, axis=-2)

  def loss(params, target_params, batch, key):
    online_key, target_key, selector_key = jax.random.split(key, 3)
    dist_q_tm1, tau_q_tm1 = network.apply(
        params, batch["observation"], online_key, num_taus
    )
    dist_q_t, _ = network.apply(
        target_params, batch["next_observation"], target_key, num_taus
    )
    dist_q_t_selector, _ = network.apply(
        params if config.double_q else target_params,
        batch["next_observation"],
        selector_key,
        num_act_taus,
    )
    per_item = jax.vmap(
        distributional.quantile_q_learning, in_axes=(0, 0, 0, 0, 0, 0, 0, None)
    )(
        dist_q_tm1,
        tau_q_tm1,
        batch["action"],
        batch["reward"],
        batch["discount"],
        dist_q_t_selector,
        dist_q_t,
        config.huber_param,
    )
    return per_item, per_item, {}  # priority: the item's own loss

  def return_distribution(params, observation):
    taus = distributional.midpoint_taus(RETURN_DISTRIBUTION_TAUS)
    dist = network.apply(
        params, observation, taus, method=ImplicitQuantileNetwork.quantiles
    )
    greedy = jnp.argmax(jnp.mean(dist, axis=0))
    return distributional.equally_weighted(dist[:, greedy])

  agent = value_based.make_from_config(
      config,
      specs=specs,
      run=run,
      name="iqn",
      network=network,
      action_values=action_values,
      loss=loss,
      network_takes_key=True,
  )
  return dataclasses.replace(agent, return_distribution=return_distribution)
