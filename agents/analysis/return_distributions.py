"""The return distribution a trained value-based agent has learned at one state.

What each agent's parameters say about Z(s, a*) for the greedy action a*:

  qr_dqn  N quantiles theta_i(s, a*) at tau_i = (i + 0.5) / N, equal weights
          (Dabney et al. 2018a: the quantile distribution is these N Diracs);
  iqn     Z_tau(s, a*) at `num_taus` evenly spaced taus (i + 0.5) / num_taus,
          equal weights: the learned quantile function read on a fine grid;
  er_dqn  samples imputed from its N expectiles (Rowland et al. 2019, Sec. 5),
          equal weights (`agents.lib.expectiles.impute_samples`, run longer
          than in training);
  dqn     one atom at Q(s, a*) = max_a Q(s, a): classical TD keeps the mean
          only.

`learned_return_distribution` returns (values, weights) for any of them, and
`wasserstein1` compares it with a task's true distribution (e.g.
`JumpTheGap.true_return_distribution(gamma)`). `agent_params_from_state` pulls
one seed's parameters out of the final `LoopState` of `train.train`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from agents import er_dqn
from agents import iqn
from agents import qr_dqn
from agents import registry
from agents import types
from agents.analysis import dopamine
from agents.lib import expectiles
from agents.lib import value_based
from agents.runtime import anakin
from environments import base

DISTRIBUTIONAL_AGENTS = ("qr_dqn", "iqn", "er_dqn")


def agent_params_from_state(loop_state: Any, seed_index: int = 0) -> Any:
  """Online network params of one seed from a (device-replicated) LoopState."""
  params = anakin.fetch_replicated(loop_state.agent_state.params)
  return jax.tree.map(lambda x: x[seed_index], params)


def learned_return_distribution(config: ml_collections.ConfigDict,
                                specs: types.EnvSpecs, params: Any,
                                observation: np.ndarray, *,
                                num_taus: int = 1000,
                                imputation_steps: int = 100
                                ) -> tuple[np.ndarray, np.ndarray]:
  """(values ascending, weights) of the agent's Z(observation, a*).

  `config.agent` picks how to read `params` (see the module docstring);
  `observation` is one unbatched observation. Point-value agents other than
  the distributional three are read through their `act` (their q_values).
  """
  name = config.agent
  observation = jnp.asarray(observation, jnp.float32)
  if name == "qr_dqn":
    dist = qr_dqn.make_network(config, specs).apply(params, observation)
    values = dist[:, jnp.argmax(jnp.mean(dist, axis=0))]
  elif name == "iqn":
    network = iqn.make_network(config, specs)
    taus = (jnp.arange(num_taus, dtype=jnp.float32) + 0.5) / num_taus
    dist = network.apply(params, observation, taus,
                         method=iqn.ImplicitQuantileNetwork.quantiles)
    values = dist[:, jnp.argmax(jnp.mean(dist, axis=0))]
  elif name == "er_dqn":
    dist = er_dqn.make_network(config, specs).apply(params, observation)
    action = jnp.argmax(er_dqn.mean_of_expectiles(dist))
    values = expectiles.impute_samples(
        er_dqn.expectile_taus(config.num_expectiles), dist[:, action],
        num_steps=imputation_steps)
  elif name in registry.AGENTS:  # point-value agents (DQN): act gives Q(s, .)
    agent = registry.get_builder(name)(config, specs)
    actor_params = value_based.EpsilonGreedyParams(params, jnp.float32(0.0))
    timestep = base.TimeStep(step_type=jnp.int32(base.FIRST),
                             reward=jnp.float32(0.0),
                             discount=jnp.float32(1.0),
                             observation=observation)
    _, _, extras = agent.act(actor_params, agent.initial_actor_state(),
                             timestep, jax.random.PRNGKey(0), evaluation=True)
    values = jnp.max(extras["q_values"])[None]
  else:
    raise ValueError(f"unknown agent {name!r}")
  values = np.sort(np.asarray(values, np.float64))
  return values, np.full(values.shape, 1.0 / values.size)


def wasserstein1(values_a, weights_a, values_b, weights_b) -> float:
  """W1 between two discrete distributions (scipy.stats.wasserstein_distance);
  the dopamine analysis' function, shared."""
  return dopamine.wasserstein1(values_a, weights_a, values_b, weights_b)


def start_observation(env) -> np.ndarray:
  """The observation of a task's first step (the start state)."""
  _, timestep = env.reset(jax.random.PRNGKey(0))
  return np.asarray(timestep.observation)
