"""Continuous actions: bounds and exploration noise, shared by every agent
that acts in a continuous space (NAF, DDPG, continuous A3C, model rollouts).

`action_bounds(spec)` is the one place a continuous action spec is read: a
`dm_env.specs.BoundedArray` of shape [d] with finite bounds, low < high.
Anything else is a `UserError` naming what is wrong, so an agent refuses a task
it cannot act in before the workdir is touched.

Exploration noise (both act on an UNBATCHED action of shape [d]):
  gaussian:  u = clip(mu + sigma * (high - low) / 2 * eps, low, high),
             eps ~ N(0, I).
  ornstein-uhlenbeck (Uhlenbeck & Ornstein 1930; the noise of Lillicrap et
  al. 2016 and Gu et al. 2016):
             n' = n - theta * n + sigma * eps,  eps ~ N(0, I),
             u  = clip(mu + (high - low) / 2 * n', low, high),
             n reset to 0 at the first step of each episode (the actor state).
`sigma` is in units of half the action range, so one config value fits tasks
whose bounds differ.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs as dm_specs

from agents.runtime.errors import UserError

NOISE_KINDS = ("gaussian", "ou")


def action_bounds(spec) -> tuple[np.ndarray, np.ndarray]:
  """(low, high), each float32 [d], of a continuous action spec.

  Raises:
    UserError: the spec is discrete, unbounded, not a vector, or its bounds
      are not finite or not low < high.
  """
  if hasattr(spec, "num_values"):
    raise UserError(
        f"a continuous-action agent needs a continuous action spec, got the "
        f"discrete {spec}"
    )
  if not isinstance(spec, dm_specs.BoundedArray):
    raise UserError(
        f"the task's action spec {spec} has no bounds; a continuous-action "
        "agent needs a dm_env.specs.BoundedArray with finite minimum and "
        "maximum"
    )
  if len(spec.shape) != 1 or spec.shape[0] < 1:
    raise UserError(
        f"the task's action spec has shape {spec.shape}; continuous agents "
        "act in vectors of shape [d] with d >= 1"
    )
  low = np.broadcast_to(np.asarray(spec.minimum, np.float64), spec.shape)
  high = np.broadcast_to(np.asarray(spec.maximum, np.float64), spec.shape)
  if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
    raise UserError(
        f"the task's action bounds are not finite (minimum {low.tolist()}, "
        f"maximum {high.tolist()}); continuous agents need finite bounds"
    )
  if not np.all(low < high):
    raise UserError(
        f"the task's action bounds need minimum < maximum in every "
        f"dimension, got minimum {low.tolist()}, maximum {high.tolist()}"
    )
  return low.astype(np.float32), high.astype(np.float32)


def scale_to_bounds(
    unit_action: chex.Array, low: chex.Array, high: chex.Array
) -> chex.Array:
  """Maps [-1, 1]^d (e.g. a tanh output) affinely onto [low, high]."""
  return low + (unit_action + 1.0) * 0.5 * (high - low)


def gaussian_noise(
    mean: chex.Array,
    key: chex.PRNGKey,
    sigma: float,
    low: chex.Array,
    high: chex.Array,
) -> chex.Array:
  """mean + N(0, (sigma (high - low) / 2)^2), clipped to the bounds."""
  chex.assert_rank(mean, 1)
  eps = jax.random.normal(key, mean.shape, mean.dtype)
  return jnp.clip(mean + sigma * 0.5 * (high - low) * eps, low, high)


def ou_step(
    noise: chex.Array,
    key: chex.PRNGKey,
    theta: float,
    sigma: float,
) -> chex.Array:
  """One Ornstein-Uhlenbeck step, dt = 1: n - theta n + sigma eps."""
  chex.assert_rank(noise, 1)
  eps = jax.random.normal(key, noise.shape, noise.dtype)
  return noise - theta * noise + sigma * eps


def ou_action(
    mean: chex.Array,
    noise: chex.Array,
    low: chex.Array,
    high: chex.Array,
) -> chex.Array:
  """mean + (high - low) / 2 * noise, clipped to the bounds."""
  return jnp.clip(mean + 0.5 * (high - low) * noise, low, high)
