"""A sum-tree over non-negative leaf values, in one jnp array, batched.

Layout: `nodes` has 2P entries, P = the smallest power of two >= the number of
leaves; leaf i sits at node P + i, node k's children at 2k and 2k + 1, the
root (the total) at node 1; node 0 is unused. Leaves past the capacity and
leaves never written hold 0, so they are never sampled.

Every operation is vectorised over a batch and costs O(batch * log P):
  * `find`: one descent for all targets at once, log2(P) gathers;
  * `set_leaves`: the leaves are written in one scatter, then every level of
    their ancestors is recomputed from its two children (not incremented by a
    difference), so the sums carry no drift and duplicate indices are exact:
    of several values for one leaf the last one in the batch wins, and two
    writes to one ancestor write the same sum.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def num_leaf_slots(capacity: int) -> int:
  """P: the smallest power of two >= capacity (>= 1)."""
  return 1 << max(int(capacity) - 1, 0).bit_length()


def init(capacity: int) -> chex.Array:
  """All-zero tree for `capacity` leaves: float32 [2P]."""
  return jnp.zeros((2 * num_leaf_slots(capacity),), jnp.float32)


def total(nodes: chex.Array) -> chex.Array:
  """The sum of all leaves."""
  return nodes[1]


def get_leaves(nodes: chex.Array, indices: chex.Array) -> chex.Array:
  """The values of leaves `indices`."""
  return nodes[nodes.shape[0] // 2 + indices]


def _last_occurrence(indices: chex.Array) -> chex.Array:
  """[n] bool: True where no later entry of `indices` holds the same index."""
  n = indices.shape[0]
  same = indices[:, None] == indices[None, :]
  later = jnp.arange(n)[None, :] > jnp.arange(n)[:, None]
  return ~jnp.any(same & later, axis=1)


def set_leaves(nodes: chex.Array, indices: chex.Array, values: chex.Array,
               capacity: int, unique: bool = False) -> chex.Array:
  """Sets leaves `indices` [n] to `values` [n] and recomputes their ancestors.

  Indices outside [0, capacity) are ignored (the caller's way to mask an
  entry). With duplicate indices, the last entry wins; `unique=True` promises
  there are none (a ring buffer's new slots) and skips the n x n check.
  """
  chex.assert_rank([indices, values], 1)
  num_slots = nodes.shape[0] // 2
  depth = num_slots.bit_length() - 1
  keep = (indices >= 0) & (indices < capacity)
  if not unique:
    keep = keep & _last_occurrence(indices)
  leaf = num_slots + jnp.clip(indices, 0, num_slots - 1)
  nodes = nodes.at[jnp.where(keep, leaf, 2 * num_slots)].set(
      values.astype(nodes.dtype), mode="drop")
  node = leaf
  for _ in range(depth):  # static: log2(P) levels, bottom-up
    node = node // 2  # a masked entry recomputes a path: a no-op
    nodes = nodes.at[node].set(nodes[2 * node] + nodes[2 * node + 1])
  return nodes


def find(nodes: chex.Array, targets: chex.Array) -> chex.Array:
  """Leaf indices i [n] whose prefix-sum interval [S_{i-1}, S_i) holds each
  target [n], by one batched descent from the root.

  At each node the descent goes right when target >= left sum and the right
  subtree is not empty, so it ends at a positive leaf whenever the total is
  positive, also for targets that rounding put at or past the total. With an
  all-zero tree it returns leaf 0.
  """
  chex.assert_rank(targets, 1)
  num_slots = nodes.shape[0] // 2
  depth = num_slots.bit_length() - 1
  node = jnp.ones(targets.shape, jnp.int32)
  targets = targets.astype(nodes.dtype)
  for _ in range(depth):
    left = nodes[2 * node]
    go_right = (targets >= left) & (nodes[2 * node + 1] > 0)
    targets = jnp.where(go_right, targets - left, targets)
    node = 2 * node + go_right.astype(jnp.int32)
  return node - num_slots


def stratified_targets(key: chex.PRNGKey, total_value: chex.Array,
                       batch_size: int) -> chex.Array:
  """One target drawn uniformly inside each of `batch_size` equal segments
  of [0, total): target_j = (j + u_j) * total / batch_size, u_j ~ U[0, 1)
  (Schaul et al. 2016, Appendix B.2.1)."""
  u = jax.random.uniform(key, (batch_size,), jnp.float32)
  return (jnp.arange(batch_size, dtype=jnp.float32) + u) * (
      total_value / batch_size)
