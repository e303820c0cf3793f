"""Flax linen networks shared by the agents.

Observations may have any shape; torsos flatten them. Heads are separate
modules so an algorithm picks the head its paper uses (Q-values, quantiles,
policy and value) on a common torso.
"""

from __future__ import annotations

from typing import Sequence

import chex
import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
  """Flatten, then Dense + activation layers."""

  hidden_sizes: Sequence[int]
  activate_final: bool = True

  @nn.compact
  def __call__(self, x: chex.Array) -> chex.Array:
    for i, size in enumerate(self.hidden_sizes):
      x = nn.Dense(size)(x)
      if i < len(self.hidden_sizes) - 1 or self.activate_final:
        x = nn.relu(x)
    return x


def flatten_observation(
    observation: chex.Array, observation_rank: int
) -> chex.Array:
  """Flattens the trailing `observation_rank` axes, keeping batch axes."""
  if observation_rank == 1:
    return observation.astype(jnp.float32)
  batch_shape = observation.shape[: observation.ndim - observation_rank]
  return jnp.reshape(observation, (*batch_shape, -1)).astype(jnp.float32)


class QNetwork(nn.Module):
  """Q(s, .) for every action: MLP torso + linear head (DQN)."""

  num_actions: int
  hidden_sizes: Sequence[int]
  observation_rank: int = 1

  @nn.compact
  def __call__(self, observation: chex.Array) -> chex.Array:
    x = flatten_observation(observation, self.observation_rank)
    x = MLP(self.hidden_sizes)(x)
    return nn.Dense(self.num_actions)(x)


class ActorCritic(nn.Module):
  """Policy logits and state value on a shared MLP torso (A2C)."""

  num_actions: int
  hidden_sizes: Sequence[int]
  observation_rank: int = 1

  @nn.compact
  def __call__(self, observation: chex.Array) -> tuple[chex.Array, chex.Array]:
    x = flatten_observation(observation, self.observation_rank)
    x = MLP(self.hidden_sizes)(x)
    logits = nn.Dense(
        self.num_actions, kernel_init=nn.initializers.orthogonal(0.01)
    )(x)
    value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))(x)
    return logits, jnp.squeeze(value, -1)


class GaussianActorCritic(nn.Module):
  """A diagonal Gaussian policy's (mean, variance) and the state value, as in
  Mnih et al. 2016's continuous A3C: mean linear, variance softplus of a
  linear layer, and (`shared_torso` False, the paper's choice) policy and
  value on separate MLP torsos that share no parameters. Output
  ((mean [..., d], variance [..., d]), value [...])."""

  action_size: int
  hidden_sizes: Sequence[int]
  observation_rank: int = 1
  shared_torso: bool = False
  min_variance: float = 0.0  # added to the softplus (0: the paper's)

  @nn.compact
  def __call__(self, observation: chex.Array):
    x = flatten_observation(observation, self.observation_rank)
    policy_x = MLP(self.hidden_sizes, name="policy_torso")(x)
    value_x = (
        policy_x
        if self.shared_torso
        else MLP(self.hidden_sizes, name="value_torso")(x)
    )
    small = nn.initializers.orthogonal(0.01)
    mean = nn.Dense(self.action_size, kernel_init=small, name="mean")(policy_x)
    variance = self.min_variance + nn.softplus(
        nn.Dense(self.action_size, kernel_init=small, name="variance")(policy_x)
    )
    value = nn.Dense(
        1, kernel_init=nn.initializers.orthogonal(1.0), name="value"
    )(value_x)
    return (mean, variance), jnp.squeeze(value, -1)


class DistributionalQNetwork(nn.Module):
  """`num_statistics` values per action on an MLP torso: QR-DQN's quantiles,
  ER-DQN's expectiles. Output [..., num_statistics, num_actions], the
  `dist_q` layout of rlax's quantile losses."""

  num_actions: int
  num_statistics: int
  hidden_sizes: Sequence[int]
  observation_rank: int = 1

  @nn.compact
  def __call__(self, observation: chex.Array) -> chex.Array:
    x = flatten_observation(observation, self.observation_rank)
    x = MLP(self.hidden_sizes)(x)
    x = nn.Dense(self.num_statistics * self.num_actions)(x)
    return jnp.reshape(
        x, (*x.shape[:-1], self.num_statistics, self.num_actions)
    )
