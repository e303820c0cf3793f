"""QR-DQN: Dabney, Rowland, Bellemare & Munos 2018, "Distributional
reinforcement learning with quantile regression", AAAI.

The return distribution Z(s, a) is N Diracs theta_1..theta_N (s, a) at the
quantile midpoints tau_i = (i + 0.5) / N, i = 0..N-1 (`midpoint_taus`;
the paper's tau-hat_i = (tau_{i-1} + tau_i) / 2, Lemma 2), N = `num_quantiles`.
The network emits them for every action: [N, num_actions].

  Q(s, a)   = (1/N) sum_j theta_j(s, a)                        -> `action_values`
  a*        = argmax_a' Q(s', a') of the target network (of the online network
              with `double_q`)                          (Algorithm 1, lines 2-3)
  T theta_j = r + gamma * discount * theta_j(s', a*; theta^-)  (Algorithm 1, l. 4)
  loss      = sum_i (1/N') sum_j rho^kappa_tau_i (T theta_j - theta_i(s, a))
                                                        (eq. 10, Algorithm 1 l. 5)
  rho^kappa_tau(u) = |tau - 1{u < 0}| L_kappa(u)                          (eq. 9)

with N' = N target samples and L_kappa the Huber loss, kappa = `huber_param`
(1 in the paper; 0 gives the pure quantile loss |tau - 1{u<0}| |u|, eq. 8).
This is `rlax.quantile_q_learning` for one transition (vmapped over the
batch); rlax, and so this file, leaves out eq. 9's 1/kappa, which changes
nothing at kappa = 1.

The loss is `distributional.quantile_q_learning` (agents/lib/distributional.py:
`rlax.quantile_q_learning`'s value and gradient, computed in one fused pass
that is faster on XLA:CPU); IQN shares it. What bounds QR-DQN's speed beside
DQN's is N itself: the head has N x num_actions outputs, and the loss
compares N x N' pairs per transition (`python -m scripts.benchmark
--only=qr_dqn_catch,qr_dqn_catch_by_quantiles` gives the ratio to DQN at
several N).

Replay, the target network, epsilon-greedy acting and importance weights are
the shared learner in `agents/lib/value_based.py`; this file holds only the
network (`networks.DistributionalQNetwork`, shared with ER-DQN), the wiring of
the loss and the learned distribution's read-out (`return_distribution`).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import ml_collections

from agents import types
from agents.lib import distributional
from agents.lib import networks
from agents.lib import value_based


def make_network(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs
) -> networks.DistributionalQNetwork:
  return networks.DistributionalQNetwork(
      num_actions=int(specs.action.num_values),
      num_statistics=int(config.num_quantiles),
      hidden_sizes=tuple(config.hidden_sizes),
      observation_rank=len(specs.observation.shape),
  )


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  network = make_network(config, specs)
  taus = distributional.midpoint_taus(config.num_quantiles)

  def action_values(params, observation, key):
    del key
    return jnp.mean(network.apply(params, observation), axis=-2)

  loss = value_based.fixed_statistics_loss(
      network,
      distributional.quantile_q_learning,
      taus,
      config.huber_param,
      config.double_q,
  )

  def return_distribution(params, observation):
    dist = network.apply(params, observation)  # [N, num_actions]
    greedy = jnp.argmax(jnp.mean(dist, axis=0))
    return distributional.equally_weighted(dist[:, greedy])

  agent = value_based.make_from_config(
      config,
      specs=specs,
      run=run,
      name="qr_dqn",
      network=network,
      action_values=action_values,
      loss=loss,
  )
  return dataclasses.replace(agent, return_distribution=return_distribution)
