"""The action distributions of the actor-critic policies, written once: a
softmax over discrete actions, or a diagonal Gaussian over continuous ones
(Mnih et al. 2016, "Asynchronous methods for deep reinforcement learning",
Section 5.4 and the supplement's "Continuous action control").

A policy is a small static object with
  act(key, params, evaluation) -> (env action, extras)   one UNBATCHED step
  distribution(params)          -> a distrax distribution (log_prob, entropy)
  sampled_actions(trajectory)   -> the samples whose log-density the policy
                                   gradient uses (lib.actor_critic)
`params` is what the network outputs for the policy: logits [..., A]
(`Categorical`), or (mean, variance) [..., d] (`Gaussian`).

Categorical: pi(a|s) = softmax(logits)_a, distrax.Softmax (the distribution
  rlax.policy_gradient_loss uses); acting samples jax.random.categorical,
  greedy evaluation takes the argmax.
Gaussian (the paper's continuous A3C): the network outputs a mean mu (linear)
  and a variance sigma^2 (softplus) per action dimension (the paper uses one
  scalar variance for all dimensions; per dimension is the same on the 1-d
  tasks here and no worse elsewhere); distrax.MultivariateNormalDiag(mu,
  sigma):
    u ~ N(mu, diag(sigma^2))                                 the sample
    log pi(u|s) = sum_i -(u_i - mu_i)^2 / (2 sigma_i^2)
                        - 1/2 log(2 pi sigma_i^2)
    H(pi(.|s))  = sum_i 1/2 (log(2 pi sigma_i^2) + 1)
  The policy lives in units of half the action range: the environment gets
    a = clip(low + (u + 1) (high - low) / 2, low, high)
  (lib.continuous.scale_to_bounds), so one config fits tasks with different
  bounds; this affine map changes H by a constant only, not its gradient.
  The policy gradient uses the log-density of the UNCLIPPED sample u, which
  `act` returns in extras["sample"] (the trajectory's action is the clipped
  one the environment received). Greedy evaluation acts with mu.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import distrax
import jax
import jax.numpy as jnp
import numpy as np

from agents import types
from agents.lib import continuous


@dataclasses.dataclass(frozen=True)
class Categorical:
  """Softmax over `num_actions` discrete actions; params are logits."""

  num_actions: int

  def act(self, key, logits, evaluation: bool):
    if evaluation:
      action = jnp.argmax(logits, axis=-1)
    else:
      action = jax.random.categorical(key, logits)
    return action.astype(jnp.int32), {}

  def distribution(self, logits) -> distrax.Distribution:
    return distrax.Softmax(logits)

  def sampled_actions(self, trajectory: types.Trajectory) -> chex.Array:
    return trajectory.action


@dataclasses.dataclass(frozen=True, eq=False)
class Gaussian:
  """Diagonal Gaussian over [d] actions in units of half the action range
  (module docstring); params are (mean, variance), each [..., d]."""

  low: np.ndarray  # float32 [d], from continuous.action_bounds
  high: np.ndarray

  @property
  def action_size(self) -> int:
    return int(self.low.shape[0])

  def to_env(self, sample: chex.Array) -> chex.Array:
    """A sample in policy units -> the clipped action the task receives."""
    return jnp.clip(
        continuous.scale_to_bounds(sample, self.low, self.high),
        self.low,
        self.high,
    )

  def act(self, key, params, evaluation: bool):
    mean, variance = params
    chex.assert_rank([mean, variance], 1)
    if evaluation:
      sample = mean
    else:
      sample = self.distribution(params).sample(seed=key)
    return self.to_env(sample), dict(sample=sample)

  def distribution(self, params) -> distrax.Distribution:
    mean, variance = params
    return distrax.MultivariateNormalDiag(mean, jnp.sqrt(variance))

  def sampled_actions(self, trajectory: types.Trajectory) -> chex.Array:
    return trajectory.extras["sample"]


Policy = Any  # Categorical | Gaussian


def for_spec(action_spec) -> Policy:
  """The policy an action spec asks for: Categorical for a DiscreteArray,
  Gaussian otherwise (UserError unless its bounds are finite:
  continuous.action_bounds)."""
  if hasattr(action_spec, "num_values"):
    return Categorical(int(action_spec.num_values))
  low, high = continuous.action_bounds(action_spec)
  return Gaussian(low, high)
