"""MountainCarContinuous: drive an under-powered car up a hill (Moore 1990).

The rules of Gym's `MountainCarContinuous-v0` (Gymnasium 1.x):

  force = clip(u, -1, 1)
  v'    = clip(v + 0.0015 force - 0.0025 cos(3 x), -0.07, 0.07)
  x'    = clip(x + v', -1.2, 0.6);  v' = 0 if x' = -1.2 and v' < 0
  terminated when x' >= 0.45 and v' >= 0
  reward = 100 [terminated] - 0.1 u^2

The penalty uses the action as given (unclipped), as Gym's does. Start
x ~ U(-0.6, -0.4), v = 0; observation (x, v); truncated after 999 steps
(Gym's registration and gymnax's `max_steps_in_episode`).

`tests/test_continuous_envs.py` checks it step for step against gymnax's
`MountainCarContinuous-v0` and whole episodes against Gymnasium's. gymnax
1.0.1 departs from Gym in one place: it zeroes a negative velocity at the
goal instead of at the left wall (the inelastic wall of Gym's rules above),
so a car that hits the left wall keeps pressing into it there. This module
follows Gym at the wall; the test states the one difference.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
from dm_env import specs
from flax import struct

from environments import base


@struct.dataclass
class MountainCarState:
  position: chex.Array
  velocity: chex.Array


@dataclasses.dataclass(frozen=True)
class MountainCarContinuous(base.Environment):
  max_episode_steps: int = 999
  min_action: float = -1.0
  max_action: float = 1.0
  min_position: float = -1.2
  max_position: float = 0.6
  max_speed: float = 0.07
  goal_position: float = 0.45
  goal_velocity: float = 0.0
  power: float = 0.0015
  gravity: float = 0.0025

  @staticmethod
  def _observation(s: MountainCarState) -> chex.Array:
    return jnp.stack([s.position, s.velocity]).astype(jnp.float32)

  def _reset(self, key):
    position = jax.random.uniform(key, (), jnp.float32, -0.6, -0.4)
    s = MountainCarState(position, jnp.zeros((), jnp.float32))
    return s, self._observation(s)

  def _step(self, s: MountainCarState, action, key):
    del key
    u = jnp.reshape(action, ()).astype(jnp.float32)
    force = jnp.clip(u, self.min_action, self.max_action)
    velocity = (
        s.velocity + force * self.power - jnp.cos(3 * s.position) * self.gravity
    )
    velocity = jnp.clip(velocity, -self.max_speed, self.max_speed)
    position = jnp.clip(
        s.position + velocity, self.min_position, self.max_position
    )
    at_wall = jnp.logical_and(position == self.min_position, velocity < 0)
    velocity = jnp.where(at_wall, 0.0, velocity)
    terminated = jnp.logical_and(
        position >= self.goal_position, velocity >= self.goal_velocity
    )
    reward = jnp.where(terminated, 100.0, 0.0) - 0.1 * u**2
    s = MountainCarState(position, velocity)
    return s, self._observation(s), reward, terminated

  def observation_spec(self):
    return specs.Array((2,), jnp.float32, name="observation")

  def action_spec(self):
    return specs.BoundedArray(
        (1,),
        jnp.float32,
        minimum=self.min_action,
        maximum=self.max_action,
        name="action",
    )
