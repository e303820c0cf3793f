"""The environment contract: pure, functional tasks with dm_env semantics.

A task is a frozen dataclass whose fields are its (static) parameters. It
implements two private methods,

  _reset(key) -> (inner_state, observation)
  _step(inner_state, action, key) -> (inner_state, observation, reward, terminated)

and inherits the public contract, which every agent and loop relies on:

  reset(key)            -> (EnvState, TimeStep)     first step of an episode
  step(state, action)   -> (EnvState, TimeStep)     jit- and vmap-traceable
  observation_spec()    -> dm_env.specs.Array (or a nest of them)
  action_spec()         -> dm_env.specs.DiscreteArray / BoundedArray

All of dm_env's episode semantics live here, once, so no task can get them wrong:

* `TimeStep` mirrors `dm_env.TimeStep` (step_type, reward, discount,
  observation) as a pytree of arrays.
* Termination gives `discount = 0`; truncation (`max_episode_steps`) gives a
  LAST step with `discount = 1`, so a learner can still bootstrap from it.
* The step after a LAST step ignores the action and starts a new episode: it
  returns a FIRST timestep (reward 0, discount 1), exactly like
  `dm_env.Environment.step` after `LAST`. The reset is computed with a select,
  so it costs one branch-free step and works under `vmap`.

Randomness comes only from the key carried in `EnvState`; the same reset key
gives the same episode stream.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

import chex
import dm_env
import jax
import jax.numpy as jnp
from dm_env import specs
from flax import struct

InnerState = TypeVar("InnerState")

# dm_env.StepType values, as plain ints usable inside traced code.
FIRST = int(dm_env.StepType.FIRST)
MID = int(dm_env.StepType.MID)
LAST = int(dm_env.StepType.LAST)


@struct.dataclass
class TimeStep:
  """A pytree mirroring `dm_env.TimeStep` (leaves are arrays, possibly batched)."""

  step_type: chex.Array  # int32: FIRST, MID or LAST.
  reward: chex.Array  # float32; 0 on FIRST.
  discount: chex.Array  # float32; 0 on termination, 1 otherwise.
  observation: Any  # array or nest of arrays.

  def first(self) -> chex.Array:
    return self.step_type == FIRST

  def mid(self) -> chex.Array:
    return self.step_type == MID

  def last(self) -> chex.Array:
    return self.step_type == LAST


@struct.dataclass
class EnvState(Generic[InnerState]):
  """What the contract carries between steps for one environment."""

  inner: Any  # the task's own state
  key: chex.PRNGKey  # randomness for this environment's future steps
  episode_step: chex.Array  # int32, steps taken in the current episode
  last: chex.Array  # bool, whether the previous timestep was LAST


def _float(x) -> jax.Array:
  return jnp.asarray(x, dtype=jnp.float32)


@dataclasses.dataclass(frozen=True)
class Environment:
  """Base class of every functional task (fields are static parameters).

  `max_episode_steps` (0 = no limit) truncates an episode: the step that
  reaches it is LAST with discount 1 unless the task terminated on it.
  """

  max_episode_steps: int = 0

  # ---- to implement -------------------------------------------------------
  def _reset(self, key: chex.PRNGKey) -> tuple[Any, Any]:
    raise NotImplementedError

  def _step(
      self, inner: Any, action: chex.Array, key: chex.PRNGKey
  ) -> tuple[Any, Any, chex.Array, chex.Array]:
    raise NotImplementedError

  def observation_spec(self) -> Any:
    raise NotImplementedError

  def action_spec(self) -> specs.Array:
    raise NotImplementedError

  @property
  def name(self) -> str:
    return type(self).__name__.lower()

  # ---- the contract -------------------------------------------------------
  def reset(self, key: chex.PRNGKey) -> tuple[EnvState, TimeStep]:
    key, reset_key = jax.random.split(key)
    inner, observation = self._reset(reset_key)
    state = EnvState(
        inner=inner,
        key=key,
        episode_step=jnp.zeros((), jnp.int32),
        last=jnp.zeros((), bool),
    )
    timestep = TimeStep(
        step_type=jnp.asarray(FIRST, jnp.int32),
        reward=_float(0.0),
        discount=_float(1.0),
        observation=observation,
    )
    return state, timestep

  def step(
      self, state: EnvState, action: chex.Array
  ) -> tuple[EnvState, TimeStep]:
    key, step_key, reset_key = jax.random.split(state.key, 3)
    # The ordinary transition.
    inner, observation, reward, terminated = self._step(
        state.inner, action, step_key
    )
    episode_step = state.episode_step + 1
    terminated = jnp.asarray(terminated, bool)
    if self.max_episode_steps > 0:
      truncated = jnp.logical_and(
          episode_step >= self.max_episode_steps, jnp.logical_not(terminated)
      )
    else:
      truncated = jnp.zeros((), bool)
    is_last = jnp.logical_or(terminated, truncated)
    stepped_state = EnvState(
        inner=inner, key=key, episode_step=episode_step, last=is_last
    )
    stepped = TimeStep(
        step_type=jnp.where(is_last, LAST, MID).astype(jnp.int32),
        reward=_float(reward),
        discount=jnp.where(terminated, 0.0, 1.0).astype(jnp.float32),
        observation=observation,
    )
    # The step after LAST starts a new episode (dm_env semantics).
    reset_state, reset_timestep = self.reset(reset_key)
    reset_state = reset_state.replace(key=key)
    return jax.tree.map(
        lambda r, s: jnp.where(state.last, r, s),
        (reset_state, reset_timestep),
        (stepped_state, stepped),
    )

  # ---- conveniences ---------------------------------------------------------
  def num_actions(self) -> int:
    spec = self.action_spec()
    if not isinstance(spec, specs.DiscreteArray):
      raise TypeError(f"{self.name} has a continuous action space {spec}.")
    return int(spec.num_values)


def is_discrete(spec: specs.Array) -> bool:
  return isinstance(spec, specs.DiscreteArray)
