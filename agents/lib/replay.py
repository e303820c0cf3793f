"""Replay buffers as pure functions over a state pytree (flashbax-style).

A buffer is a frozen dataclass holding only static settings (capacity); its
state (`ReplayState`) is a pytree that lives on device inside the agent state,
so it is jit-able, vmapped over seeds, sharded over devices, donated to the
compiled update (updated in place) and checkpointed with everything else.

`UniformReplay` (Mnih et al. 2015, "Human-level control through deep RL"):
a FIFO ring buffer of fixed capacity; `add` overwrites the oldest items once
full; `sample` draws indices uniformly from the filled slots only, so it is
correct before the buffer is full. `sample` returns importance weights too
(all ones here) so that every learner applies them: prioritized replay plugs
into the same call without the learner changing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayState:
  storage: Any  # pytree, each leaf [capacity, ...]
  insert_position: chex.Array  # int32, next slot to write
  size: chex.Array  # int32, number of filled slots (<= capacity)


@struct.dataclass
class ReplaySample:
  items: Any  # pytree, each leaf [batch, ...]
  indices: chex.Array  # int32 [batch]
  weights: chex.Array  # float32 [batch], importance weights


@dataclasses.dataclass(frozen=True)
class UniformReplay:
  capacity: int

  def init(self, example_item: Any) -> ReplayState:
    """`example_item`: one item (no leading axis) fixing shapes and dtypes."""
    storage = jax.tree.map(
        lambda x: jnp.zeros((self.capacity, *jnp.shape(x)), jnp.asarray(x).dtype),
        example_item)
    return ReplayState(storage=storage,
                       insert_position=jnp.zeros((), jnp.int32),
                       size=jnp.zeros((), jnp.int32))

  def add(self, state: ReplayState, items: Any) -> ReplayState:
    """Adds a batch of items (each leaf [n, ...], n <= capacity) in order."""
    n = jax.tree.leaves(items)[0].shape[0]
    if n > self.capacity:
      raise ValueError(f"adding {n} items to a buffer of capacity "
                       f"{self.capacity}; the capacity must be >= items per add")
    indices = (state.insert_position + jnp.arange(n)) % self.capacity
    storage = jax.tree.map(lambda s, x: s.at[indices].set(x),
                           state.storage, items)
    return ReplayState(
        storage=storage,
        insert_position=(state.insert_position + n) % self.capacity,
        size=jnp.minimum(state.size + n, self.capacity))

  def sample(self, state: ReplayState, key: chex.PRNGKey,
             batch_size: int) -> ReplaySample:
    """Uniform over filled slots. With an empty buffer, returns slot 0."""
    indices = jax.random.randint(key, (batch_size,), 0,
                                 jnp.maximum(state.size, 1))
    items = jax.tree.map(lambda s: s[indices], state.storage)
    return ReplaySample(items=items, indices=indices,
                        weights=jnp.ones((batch_size,), jnp.float32))
