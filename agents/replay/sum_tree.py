"""A sum-tree over non-negative leaf values, in jnp arrays, batched.

A K-ary tree (K = `FANOUT`, 32) kept as a tuple of levels: level 0 holds the
leaves padded to K^d slots, level l holds K^(d-l) sums, each that of its K
children in level l - 1, and level d the total. Leaves past the capacity and
leaves never written hold 0, so they are never sampled. The wide fan-out
keeps the tree shallow (d = 3 for 32k leaves, 4 for 1M), so a batch crosses
few levels: each level is one gather of [batch, K] children, a prefix sum
and a count, which costs about what a binary level costs on a CPU or an
accelerator, and there are 5x fewer of them than in a binary tree.

Every operation is vectorised over a batch and costs O(batch * K * d):
  * `find`: one descent for all targets at once;
  * `set_leaves`: the leaves are written in one scatter, then every level of
    their ancestors is recomputed from its K children (not incremented by a
    difference), so the sums carry no drift and duplicate indices are exact:
    of several values for one leaf the last one in the batch wins, and two
    writes to one ancestor write the same sum.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

FANOUT = 32

Tree = tuple  # of float32 arrays: leaves [K^d], ..., [K], total [1]


def depth(capacity: int) -> int:
  """d: the levels above the leaves (>= 1), K^d >= capacity."""
  d = 1
  while FANOUT**d < capacity:
    d += 1
  return d


def init(capacity: int) -> Tree:
  """An all-zero tree for `capacity` leaves."""
  d = depth(capacity)
  return tuple(
      jnp.zeros((FANOUT ** (d - l),), jnp.float32) for l in range(d + 1)
  )


def total(tree: Tree) -> chex.Array:
  """The sum of all leaves."""
  return tree[-1][0]


def get_leaves(tree: Tree, indices: chex.Array) -> chex.Array:
  """The values of leaves `indices`."""
  return tree[0][indices]


def _last_occurrence(indices: chex.Array) -> chex.Array:
  """[n] bool: True where no later entry of `indices` holds the same index."""
  n = indices.shape[0]
  same = indices[:, None] == indices[None, :]
  later = jnp.arange(n)[None, :] > jnp.arange(n)[:, None]
  return ~jnp.any(same & later, axis=1)


def set_leaves(
    tree: Tree,
    indices: chex.Array,
    values: chex.Array,
    capacity: int,
    unique: bool = False,
) -> Tree:
  """Sets leaves `indices` [n] to `values` [n] and recomputes their ancestors.

  Indices outside [0, capacity) are ignored (the caller's way to mask an
  entry). With duplicate indices, the last entry wins; `unique=True` promises
  there are none (a ring buffer's new slots) and skips the n x n check.
  """
  chex.assert_rank([indices, values], 1)
  keep = (indices >= 0) & (indices < capacity)
  if not unique:
    keep = keep & _last_occurrence(indices)
  # The new values are made to depend on the total, the last sum the
  # previous `set_leaves` computed from the levels' reads, so that this
  # call's writes are ordered after those reads and XLA writes every level
  # in place (without it, it copied the whole tree at each call).
  # (0 * total: XLA keeps it, as 0 * x is not 0 for every float x.)
  values = values.astype(jnp.float32) + 0.0 * tree[-1][0]
  num_slots = tree[0].shape[0]
  node = jnp.clip(indices, 0, num_slots - 1)
  levels = [
      tree[0]
      .at[jnp.where(keep, node, num_slots)]
      .set(values.astype(jnp.float32), mode="drop")
  ]
  for level in tree[1:]:  # bottom-up; a masked entry recomputes a path
    node = node // FANOUT
    children = levels[-1].reshape(-1, FANOUT)[node]  # [n, K]
    levels.append(level.at[node].set(jnp.sum(children, axis=1)))
  return tuple(levels)


def find(tree: Tree, targets: chex.Array) -> chex.Array:
  """Leaf indices i [n] whose prefix-sum interval [S_{i-1}, S_i) holds each
  target [n], by one batched descent from the root.

  At each node the descent takes the first child whose running sum exceeds
  the target, or, for a target that rounding put at or past the node's sum,
  the last child with a positive sum; so it ends at a positive leaf whenever
  the total is positive. With an all-zero tree it returns leaf 0.
  """
  chex.assert_rank(targets, 1)
  node = jnp.zeros(targets.shape, jnp.int32)
  targets = targets.astype(jnp.float32)
  positions = jnp.arange(FANOUT, dtype=jnp.int32)
  for level in reversed(tree[:-1]):  # top-down
    children = level.reshape(-1, FANOUT)[node]  # [n, K]
    running = jnp.cumsum(children, axis=1)
    first_above = jnp.sum(running <= targets[:, None], axis=1)
    last_positive = jnp.max(jnp.where(children > 0, positions, 0), axis=1)
    child = jnp.minimum(first_above, last_positive).astype(jnp.int32)
    before = jnp.take_along_axis(running - children, child[:, None], 1)[:, 0]
    targets = targets - before
    node = node * FANOUT + child
  return node


def stratified_targets(
    key: chex.PRNGKey, total_value: chex.Array, batch_size: int
) -> chex.Array:
  """One target drawn uniformly inside each of `batch_size` equal segments
  of [0, total): target_j = (j + u_j) * total / batch_size, u_j ~ U[0, 1)
  (Schaul et al. 2016, Appendix B.2.1)."""
  u = jax.random.uniform(key, (batch_size,), jnp.float32)
  return (jnp.arange(batch_size, dtype=jnp.float32) + u) * (
      total_value / batch_size
  )
