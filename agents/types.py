"""The agent contract: a bundle of pure functions over pytrees, no hidden state.

An `Agent` is what every loop (compiled or host) runs:

  init(key, specs) -> agent_state
      Everything the learner owns: params, target params, optimizer state,
      replay state, counters. One pytree, so it can be donated, vmapped over
      seeds, sharded over devices and checkpointed whole.
  actor_params(agent_state) -> actor_params
      The part of the state that acting needs (params plus e.g. epsilon).
  initial_actor_state(key) -> actor_state
      Per-environment actor state (e.g. an LSTM core state); `()` if none.
      `key` is that environment's (actor's) own stream, derived by the loop
      from the seed and the environment's global index; agents needing no
      randomness ignore it (`no_actor_state`).
  act(actor_params, actor_state, timestep, key, evaluation) -> (action, actor_state, extras)
      One UNBATCHED environment; the loop vmaps it. `evaluation` is a static
      bool (greedy / frozen behaviour). A recurrent agent resets its core state
      itself when `timestep.first()`.
  learn(agent_state, trajectory, key) -> (agent_state, metrics)
      A time-major chunk of experience from a batch of environments. Off-policy
      agents push it into their replay and sample from it; on-policy agents
      learn from it directly. Gradients are averaged over the named device axis
      `DEVICE_AXIS` (the loops always provide it, of size 1 on one device).
  gradients(agent_state, trajectory, key) -> (grads, aux)   [optional]
  apply(agent_state, grads, aux) -> (agent_state, metrics)   [optional]
      `learn` split in two, for the asynchronous loops (agents/runtime/
      hogwild.py): `gradients` computes the update's gradients (averaged over
      `DEVICE_AXIS`) and whatever else `apply` needs (`aux`: metrics, env step
      counts); `apply` changes the state. `apply` may be given gradients
      computed on older (stale) parameters than the state it is applied to.
      Where present, `learn(s, t, k) == apply(s, *gradients(s, t, k))`
      bitwise. None when the agent does not split its update.
  return_distribution(params, observation) -> (values, weights)   [optional]
      Distributional agents only (None for the others): the return
      distribution Z(observation, a*) their online `params` represent for the
      greedy action a*, as Diracs at `values` (ascending) with `weights`
      (summing to 1), for one UNBATCHED observation. How each agent reads its
      statistics (quantiles, a quantile function, imputed expectiles) is its
      own; `agents/analysis/return_distributions.py` calls it uniformly.

Run information: `make_agent(config, specs, run: RunInfo)`. The runtime
computes `run` once, from the loop it built (agents/runtime/loops.py), so that
schedules over learn calls (learning-rate annealing, prioritized replay's
beta) end exactly at the run's last update.

Trajectory layout (T = rollout length, B = environments on this device):
  timestep[0..T]  (T+1 steps: timestep[0] is the last step of the previous
                   chunk, so consecutive chunks overlap by one step)
  action[0..T-1]  the action taken at timestep[t] (ignored by the task when
                  timestep[t] is LAST: the next step is then a FIRST)
  extras[0..T-1]  whatever `act` returned (logits, values, ...)
  actor_state     the actor state before acting at timestep[0] ([B, ...])
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import chex
from dm_env import specs as dm_specs
from flax import struct

from environments.base import TimeStep

DEVICE_AXIS = "device"  # gradients and metrics are averaged over this axis

AgentState = Any
ActorParams = Any
ActorState = Any
Metrics = dict[str, chex.Array]


@struct.dataclass
class Trajectory:
  timestep: TimeStep  # [T+1, B, ...]
  action: chex.Array  # [T, B, ...]
  extras: Any  # [T, B, ...]
  actor_state: Any  # [B, ...]


@dataclasses.dataclass(frozen=True)
class EnvSpecs:
  observation: Any
  action: dm_specs.Array


@dataclasses.dataclass(frozen=True)
class RunInfo:
  """What an agent knows about the run it is built for (agents/runtime).

  learn_calls: `learn` (or `apply`) calls on one seed's agent state over the
    whole run, computed by the runtime from the loop it built (segments x
    learn calls per segment; every device makes every call).
  env_steps_per_learn_call: environment steps (over all devices) behind one
    learn call.
  num_devices: devices each learn call's gradients are averaged over.
  """

  learn_calls: int
  env_steps_per_learn_call: int
  num_devices: int = 1


@dataclasses.dataclass(frozen=True)
class Agent:
  """A named bundle of the contract's pure functions."""

  name: str
  init: Callable[[chex.PRNGKey, EnvSpecs], AgentState]
  actor_params: Callable[[AgentState], ActorParams]
  initial_actor_state: Callable[[chex.PRNGKey], ActorState]
  act: Callable[..., tuple[chex.Array, ActorState, Any]]
  learn: Callable[
      [AgentState, Trajectory, chex.PRNGKey], tuple[AgentState, Metrics]
  ]
  return_distribution: (
      Callable[[Any, chex.Array], tuple[chex.Array, chex.Array]] | None
  ) = None
  gradients: (
      Callable[[AgentState, Trajectory, chex.PRNGKey], tuple[Any, Any]] | None
  ) = None
  apply: Callable[[AgentState, Any, Any], tuple[AgentState, Metrics]] | None = (
      None
  )


def no_actor_state(key: chex.PRNGKey | None = None) -> ActorState:
  """The actor state of an agent that needs none (the key is ignored)."""
  del key
  return ()
