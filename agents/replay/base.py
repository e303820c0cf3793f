"""The replay interface: a buffer is static settings + pure functions.

In the manner of flashbax, a buffer is a frozen dataclass that holds only
static settings (capacity, exponents, model sizes); everything that changes
lives in a state pytree of jnp arrays that the buffer's pure functions take
and return. The state sits inside the agent state, so it is jit-able, vmapped
over seeds, shard_mapped over devices (one buffer per device, fed by that
device's environments), donated to the compiled update (written in place) and
checkpointed with everything else. A buffer never knows which agent uses it.

  init(example_item, key=None) -> state
      `example_item`: ONE item (no leading axis) fixing shapes and dtypes.
      `key` seeds what a buffer learns (imagination's neural model); buffers
      without one ignore it.
  add(state, items) -> state
      `items`: the same pytree with a leading axis [n, ...], written in order.
  sample(state, key, batch_size) -> ReplaySample(items, indices, weights)
      `weights` are importance weights, multiplied into the per-item loss by
      the learner (ones for uniform replay).
  update(state, indices, priorities) -> state
      Per-item priorities (e.g. |TD error|) of the items just sampled, at
      their `indices`; one call per gradient step. A no-op for uniform.
      Indices outside [0, capacity), e.g. `NO_INDEX`, are ignored: the
      learner masks the calls made before learning starts this way, which
      costs nothing, where selecting between two states would copy them.
  train(state, key, policy=None) -> (state, metrics)
      The buffer's own learning step, once per learn call (imagination's
      model); identity and no metrics for the others. `policy`: the
      learner's current policy, (observation batch, key) -> action batch,
      bound to its params; continuous imagination rollouts need it, the
      others ignore it.
  size(state) -> int32 scalar: the number of real items held.

How to add a kind: subclass `ReplayBuffer` in `agents/replay/<kind>.py`
(a frozen dataclass; override what differs from the defaults below), then add
its name to `KINDS` and its construction (plus checks of its config keys) to
`agents/replay/__init__.py`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
from flax import struct

# An index that `update` ignores (outside every buffer's [0, capacity)).
NO_INDEX = 2**31 - 1


@struct.dataclass
class ReplaySample:
  items: Any  # pytree, each leaf [batch, ...]
  indices: chex.Array  # int32 [batch], the items' slots (for `update`)
  weights: chex.Array  # float32 [batch], importance weights


@dataclasses.dataclass(frozen=True)
class ReplayBuffer:
  """The interface; see the module docstring for each function's contract."""

  def init(self, example_item: Any, key: chex.PRNGKey | None = None) -> Any:
    raise NotImplementedError

  def add(self, state: Any, items: Any) -> Any:
    raise NotImplementedError

  def sample(
      self, state: Any, key: chex.PRNGKey, batch_size: int
  ) -> ReplaySample:
    raise NotImplementedError

  def size(self, state: Any) -> chex.Array:
    raise NotImplementedError

  def update(
      self, state: Any, indices: chex.Array, priorities: chex.Array
  ) -> Any:
    """No priorities by default: the state is returned unchanged (the same
    arrays, so the learner gates and copies nothing)."""
    del indices, priorities
    return state

  def train(
      self, state: Any, key: chex.PRNGKey, policy: Any = None
  ) -> tuple[Any, dict[str, chex.Array]]:
    """Nothing to learn by default."""
    del key, policy
    return state, {}


def check_batch(items: Any, capacity: int) -> int:
  """The number of items in a batch to add; refuses more than `capacity`."""
  n = jax.tree.leaves(items)[0].shape[0]
  if n > capacity:
    raise ValueError(
        f"adding {n} items to a buffer of capacity {capacity}; "
        "the capacity must be >= items per add"
    )
  return n
