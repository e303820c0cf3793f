"""CartPole: the classic cart-pole balancing task (Barto, Sutton & Anderson 1983).

Physics and constants of OpenAI Gym's `CartPole-v1` (and gymnax's port):
gravity 9.8, cart mass 1.0, pole mass 0.1, pole half-length 0.5, force 10,
Euler integration with tau = 0.02. Action 0 pushes left, 1 pushes right. The
start state is uniform in [-0.05, 0.05]^4. The episode terminates (discount 0)
when |x| > 2.4 or |theta| > 12 degrees, and is truncated (discount 1) after
500 steps. Every step, the terminal one included, gives reward 1, so the best
return is 500. `tests/test_environments.py` compares the dynamics with gymnax's
CartPole-v1 step by step.
"""

from __future__ import annotations

import dataclasses
import math

import chex
import jax
import jax.numpy as jnp
from dm_env import specs
from flax import struct

from environments import base


@struct.dataclass
class CartPoleState:
  x: chex.Array
  x_dot: chex.Array
  theta: chex.Array
  theta_dot: chex.Array


@dataclasses.dataclass(frozen=True)
class CartPole(base.Environment):
  max_episode_steps: int = 500
  gravity: float = 9.8
  masscart: float = 1.0
  masspole: float = 0.1
  length: float = 0.5  # half the pole's length
  force_mag: float = 10.0
  tau: float = 0.02
  x_threshold: float = 2.4
  theta_threshold_radians: float = 12 * 2 * math.pi / 360

  @staticmethod
  def _observation(s: CartPoleState) -> chex.Array:
    return jnp.stack([s.x, s.x_dot, s.theta, s.theta_dot]).astype(jnp.float32)

  def _reset(self, key):
    x, x_dot, theta, theta_dot = jax.random.uniform(
        key, (4,), jnp.float32, -0.05, 0.05
    )
    s = CartPoleState(x, x_dot, theta, theta_dot)
    return s, self._observation(s)

  def _step(self, s: CartPoleState, action, key):
    del key
    force = jnp.where(action == 1, self.force_mag, -self.force_mag)
    total_mass = self.masspole + self.masscart
    polemass_length = self.masspole * self.length
    costheta, sintheta = jnp.cos(s.theta), jnp.sin(s.theta)
    temp = (force + polemass_length * s.theta_dot**2 * sintheta) / total_mass
    thetaacc = (self.gravity * sintheta - costheta * temp) / (
        self.length * (4.0 / 3.0 - self.masspole * costheta**2 / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    # Euler integration, as in Gym's default.
    s = CartPoleState(
        x=s.x + self.tau * s.x_dot,
        x_dot=s.x_dot + self.tau * xacc,
        theta=s.theta + self.tau * s.theta_dot,
        theta_dot=s.theta_dot + self.tau * thetaacc,
    )
    terminated = (
        (s.x < -self.x_threshold)
        | (s.x > self.x_threshold)
        | (s.theta < -self.theta_threshold_radians)
        | (s.theta > self.theta_threshold_radians)
    )
    return s, self._observation(s), 1.0, terminated

  def observation_spec(self):
    return specs.Array((4,), jnp.float32, name="observation")

  def action_spec(self):
    return specs.DiscreteArray(2, dtype=jnp.int32, name="action")
