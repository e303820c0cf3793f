"""Uniform replay (Mnih et al. 2015, "Human-level control through deep
reinforcement learning", Nature 518: "experience replay ... drawn uniformly
at random from the pool of stored samples").

A FIFO ring buffer of fixed capacity: `add` overwrites the oldest items once
full; `sample` draws indices uniformly from the filled slots only, so it is
correct before the buffer is full. Its importance weights are all ones and
`update` is a no-op, so a learner written for prioritized replay runs it
unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from agents.replay import base
from agents.replay.base import ReplaySample


@struct.dataclass
class ReplayState:
  storage: Any  # pytree, each leaf [capacity, ...]
  insert_position: chex.Array  # int32, next slot to write
  size: chex.Array  # int32, number of filled slots (<= capacity)


def init_ring(capacity: int, example_item: Any) -> ReplayState:
  """An empty ring of `capacity` slots shaped like `example_item`."""
  storage = jax.tree.map(
      lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype),
      example_item,
  )
  return ReplayState(
      storage=storage,
      insert_position=jnp.zeros((), jnp.int32),
      size=jnp.zeros((), jnp.int32),
  )


def add_to_ring(
    capacity: int, state: ReplayState, items: Any
) -> tuple[ReplayState, chex.Array]:
  """Writes items [n, ...] in order; returns the state and their slots [n]."""
  n = base.check_batch(items, capacity)
  indices = (state.insert_position + jnp.arange(n)) % capacity
  storage = jax.tree.map(
      lambda s, x: s.at[indices].set(x), state.storage, items
  )
  return (
      ReplayState(
          storage=storage,
          insert_position=(state.insert_position + n) % capacity,
          size=jnp.minimum(state.size + n, capacity),
      ),
      indices,
  )


@dataclasses.dataclass(frozen=True)
class UniformReplay(base.ReplayBuffer):
  capacity: int

  def init(
      self, example_item: Any, key: chex.PRNGKey | None = None
  ) -> ReplayState:
    del key
    return init_ring(self.capacity, example_item)

  def add(self, state: ReplayState, items: Any) -> ReplayState:
    """Adds a batch of items (each leaf [n, ...], n <= capacity) in order."""
    return add_to_ring(self.capacity, state, items)[0]

  def sample(
      self, state: ReplayState, key: chex.PRNGKey, batch_size: int
  ) -> ReplaySample:
    """Uniform over filled slots. With an empty buffer, returns slot 0."""
    indices = jax.random.randint(
        key, (batch_size,), 0, jnp.maximum(state.size, 1)
    )
    items = jax.tree.map(lambda s: s[indices], state.storage)
    return ReplaySample(
        items=items,
        indices=indices,
        weights=jnp.ones((batch_size,), jnp.float32),
    )

  def size(self, state: ReplayState) -> chex.Array:
    return state.size
