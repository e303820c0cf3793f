"""Catch (bsuite, Osband et al. 2020 "Behaviour Suite for Reinforcement Learning").

A ball starts in a random column of the top row and falls one row per step; the
agent moves a paddle on the bottom row left, not at all, or right (actions 0, 1,
2 -> dx = -1, 0, +1, clipped to the board). When the ball reaches the paddle's
row the episode terminates with reward +1 if the paddle is under the ball, -1
otherwise; every other step gives 0. The observation is the (rows, columns)
board with 1.0 at the ball and the paddle. These are bsuite's rules exactly
(`bsuite/environments/catch.py`); `tests/test_environments.py` replays bsuite's
Catch against this one move for move.
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
class CatchState:
  ball_x: chex.Array
  ball_y: chex.Array
  paddle_x: chex.Array


@dataclasses.dataclass(frozen=True)
class Catch(base.Environment):
  rows: int = 10
  columns: int = 5

  def _observation(self, s: CatchState) -> chex.Array:
    board = jnp.zeros((self.rows, self.columns), jnp.float32)
    board = board.at[s.ball_y, s.ball_x].set(1.0)
    return board.at[self.rows - 1, s.paddle_x].set(1.0)

  def _reset(self, key):
    s = CatchState(
        ball_x=jax.random.randint(key, (), 0, self.columns),
        ball_y=jnp.zeros((), jnp.int32),
        paddle_x=jnp.asarray(self.columns // 2, jnp.int32),
    )
    return s, self._observation(s)

  def _step(self, s: CatchState, action, key):
    del key
    dx = jnp.asarray(action, jnp.int32) - 1
    paddle_x = jnp.clip(s.paddle_x + dx, 0, self.columns - 1)
    ball_y = s.ball_y + 1
    s = CatchState(ball_x=s.ball_x, ball_y=ball_y, paddle_x=paddle_x)
    terminated = ball_y == self.rows - 1
    reward = jnp.where(
        terminated, jnp.where(paddle_x == s.ball_x, 1.0, -1.0), 0.0
    )
    return s, self._observation(s), reward, terminated

  def observation_spec(self):
    return specs.BoundedArray(
        (self.rows, self.columns),
        jnp.float32,
        minimum=0.0,
        maximum=1.0,
        name="observation",
    )

  def action_spec(self):
    return specs.DiscreteArray(3, dtype=jnp.int32, name="action")
