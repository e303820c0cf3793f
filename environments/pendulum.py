"""Pendulum: swing a pendulum up and hold it (Gym's `Pendulum-v1`).

Continuous action: torque u in [-2, 2]. Dynamics (g = 10, m = 1, l = 1,
dt = 0.05): thdot' = clip(thdot + (3g/(2l) sin th + 3/(m l^2) u) dt, -8, 8),
th' = th + thdot' dt. Reward -(angle_normalize(th)^2 + 0.1 thdot^2 +
0.001 u^2). Start th ~ U(-pi, pi), thdot ~ U(-1, 1); observation
(cos th, sin th, thdot); truncated after 200 steps, never terminated. The
continuous-control task for NAF-style agents (Gu et al. 2016).
`tests/test_continuous_envs.py` checks it step for step against gymnax's
`Pendulum-v1` (reset, clipped torques, the speed limit, truncation).
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
class PendulumState:
  theta: chex.Array
  theta_dot: chex.Array


def angle_normalize(x: chex.Array) -> chex.Array:
  return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


@dataclasses.dataclass(frozen=True)
class Pendulum(base.Environment):
  max_episode_steps: int = 200
  max_speed: float = 8.0
  max_torque: float = 2.0
  dt: float = 0.05
  g: float = 10.0
  m: float = 1.0
  l: float = 1.0

  @staticmethod
  def _observation(s: PendulumState) -> chex.Array:
    return jnp.stack([jnp.cos(s.theta), jnp.sin(s.theta), s.theta_dot]).astype(
        jnp.float32
    )

  def _reset(self, key):
    high = jnp.array([jnp.pi, 1.0], jnp.float32)
    theta, theta_dot = jax.random.uniform(key, (2,), jnp.float32, -high, high)
    s = PendulumState(theta, theta_dot)
    return s, self._observation(s)

  def _step(self, s: PendulumState, action, key):
    del key
    u = jnp.clip(jnp.reshape(action, ()), -self.max_torque, self.max_torque)
    cost = angle_normalize(s.theta) ** 2 + 0.1 * s.theta_dot**2 + 0.001 * u**2
    theta_dot = (
        s.theta_dot
        + (
            3 * self.g / (2 * self.l) * jnp.sin(s.theta)
            + 3.0 / (self.m * self.l**2) * u
        )
        * self.dt
    )
    theta_dot = jnp.clip(theta_dot, -self.max_speed, self.max_speed)
    s = PendulumState(theta=s.theta + theta_dot * self.dt, theta_dot=theta_dot)
    return s, self._observation(s), -cost, jnp.zeros((), bool)

  def observation_spec(self):
    return specs.Array((3,), jnp.float32, name="observation")

  def action_spec(self):
    return specs.BoundedArray(
        (1,),
        jnp.float32,
        minimum=-self.max_torque,
        maximum=self.max_torque,
        name="action",
    )
