"""Return targets for chunks that may cross episode boundaries.

rlax provides the recursions (`rlax.lambda_returns`); what it cannot know is
our chunk layout, where an episode can end inside a chunk by termination
(discount 0) or by truncation (LAST with discount 1), after which the next
step is a FIRST of a new episode. This module maps the layout onto rlax once,
for every agent that bootstraps.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import rlax

from environments.base import TimeStep


def chunk_transitions(timestep: TimeStep, gamma: float):
  """Per-step quantities of a [T+1, ...] chunk, aligned with actions [T].

  Returns (r_t, discount_t, next_is_last, valid): the reward and gamma-scaled
  discount of the step that followed each action, whether that step was LAST,
  and whether the action was a real decision (taken at a non-LAST step; the
  action at a LAST step is ignored by the task).
  """
  r_t = timestep.reward[1:]
  discount_t = gamma * timestep.discount[1:]
  next_is_last = timestep.last()[1:]
  valid = jnp.logical_not(timestep.last()[:-1])
  return r_t, discount_t, next_is_last, valid


def n_step_returns(
    timestep: TimeStep, values: chex.Array, gamma: float, lambda_: float = 1.0
) -> chex.Array:
  """Truncated lambda-returns G_t for t in [0, T) from a [T+1, B] chunk.

  `values` [T+1, B] are v(s_t) for every step of the chunk. With lambda 1 this
  is A3C's n-step return: G_t = r_{t+1} + gamma G_{t+1}, bootstrapped with
  v(s_T) at the chunk's end. At an episode's LAST step the recursion restarts:
  lambda is set to 0 there, so G = r + gamma * discount * v(s_last), which is 0
  bootstrap on termination and v(s_last) on truncation.
  """
  chex.assert_rank(values, 2)
  r_t, discount_t, next_is_last, _ = chunk_transitions(timestep, gamma)
  lambdas = jnp.where(next_is_last, 0.0, lambda_).astype(jnp.float32)
  return jax.vmap(rlax.lambda_returns, in_axes=1, out_axes=1)(
      r_t, discount_t, values[1:], lambdas
  )
