"""Adapters between the functional contract and `dm_env.Environment`.

`AsDmEnv` exposes any functional task as a real, stateful `dm_env.Environment`
(checked with dm_env's own `EnvironmentTestMixin` in the tests), so it can be
used by any dm_env consumer. The opposite direction needs no adapter: the host
loop (`agents/runtime/host_loop.py`) drives any `dm_env.Environment` directly.
"""

from __future__ import annotations

import dm_env
import jax
import numpy as np

from environments import base


class AsDmEnv(dm_env.Environment):
  """A stateful `dm_env.Environment` backed by a functional task."""

  def __init__(self, env: base.Environment, seed: int = 0):
    self._env = env
    self._key = jax.random.PRNGKey(seed)
    self._reset = jax.jit(env.reset)
    self._step = jax.jit(env.step)
    self._state = None

  @staticmethod
  def _to_dm_env(timestep: base.TimeStep) -> dm_env.TimeStep:
    step_type = dm_env.StepType(int(timestep.step_type))
    observation = jax.tree.map(np.asarray, timestep.observation)
    if step_type == dm_env.StepType.FIRST:
      return dm_env.TimeStep(step_type, None, None, observation)
    return dm_env.TimeStep(
        step_type,
        np.float32(timestep.reward),
        np.float32(timestep.discount),
        observation,
    )

  def reset(self) -> dm_env.TimeStep:
    self._key, key = jax.random.split(self._key)
    self._state, timestep = self._reset(key)
    return self._to_dm_env(timestep)

  def step(self, action) -> dm_env.TimeStep:
    if self._state is None:
      return self.reset()
    self._state, timestep = self._step(self._state, np.asarray(action))
    return self._to_dm_env(timestep)

  def observation_spec(self):
    return self._env.observation_spec()

  def action_spec(self):
    return self._env.action_spec()

  def reward_spec(self):
    return dm_env.specs.Array((), np.float32, name="reward")

  def discount_spec(self):
    return dm_env.specs.BoundedArray(
        (), np.float32, minimum=0.0, maximum=1.0, name="discount"
    )
