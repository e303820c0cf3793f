"""The return distribution a trained value-based agent has learned at one state.

What each agent's parameters say about Z(s, a*) for the greedy action a* is
the agent's own `return_distribution(params, observation)` (agents/types.py):

  qr_dqn  N quantiles theta_i(s, a*) at tau_i = (i + 0.5) / N, equal weights
          (Dabney et al. 2018a: the quantile distribution is these N Diracs);
  iqn     Z_tau(s, a*) at `iqn.RETURN_DISTRIBUTION_TAUS` evenly spaced taus,
          equal weights: the learned quantile function read on a fine grid;
  er_dqn  samples imputed from its N expectiles (Rowland et al. 2019, Sec. 5),
          equal weights (`agents.lib.expectiles.impute_samples`, run longer
          than in training).

An agent without one (DQN) is read through its greedy `act`: one atom at
Q(s, a*) = max_a Q(s, a): classical TD keeps the mean only.

`learned_return_distribution` returns (values, weights) for any of them, and
`distributional.wasserstein1` compares it with a task's true distribution
(e.g. `JumpTheGap.true_return_distribution(gamma)`). `agent_params_from_state`
pulls one seed's parameters out of the final `LoopState` of `train.train`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from agents import registry
from agents import types
from agents.lib import value_based
from agents.runtime import anakin
from environments import base


def agent_params_from_state(loop_state: Any, seed_index: int = 0) -> Any:
  """Online network params of one seed from a (device-replicated) LoopState."""
  params = anakin.fetch_replicated(loop_state.agent_state.params)
  return jax.tree.map(lambda x: x[seed_index], params)


def learned_return_distribution(
    config: ml_collections.ConfigDict,
    specs: types.EnvSpecs,
    params: Any,
    observation: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
  """(values ascending, weights) of the agent's Z(observation, a*).

  `config.agent` names the agent; `observation` is one unbatched observation.
  Agents without `return_distribution` are read through their greedy `act`
  (its `q_values`): one atom at max_a Q(s, a).
  """
  if config.agent not in registry.AGENTS:
    raise ValueError(f"unknown agent {config.agent!r}")
  # Only the network is read here: the run's schedules do not matter.
  run = types.RunInfo(learn_calls=1, env_steps_per_learn_call=1)
  agent = registry.get_builder(config.agent)(config, specs, run)
  observation = jnp.asarray(observation, jnp.float32)
  if agent.return_distribution is not None:
    values, weights = agent.return_distribution(params, observation)
  else:
    actor_params = value_based.EpsilonGreedyParams(params, jnp.float32(0.0))
    timestep = base.TimeStep(
        step_type=jnp.int32(base.FIRST),
        reward=jnp.float32(0.0),
        discount=jnp.float32(1.0),
        observation=observation,
    )
    _, _, extras = agent.act(
        actor_params,
        agent.initial_actor_state(None),
        timestep,
        jax.random.PRNGKey(0),
        evaluation=True,
    )
    values = jnp.max(extras["q_values"])[None]
    weights = jnp.ones((1,), jnp.float32)
  values = np.asarray(values, np.float64)
  order = np.argsort(values, kind="stable")
  weights = np.asarray(weights, np.float64)[order]
  return values[order], weights / weights.sum()


def start_observation(env) -> np.ndarray:
  """The observation of a task's first step (the start state)."""
  _, timestep = env.reset(jax.random.PRNGKey(0))
  return np.asarray(timestep.observation)
