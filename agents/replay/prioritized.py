"""Prioritized experience replay: Schaul, Quan, Antonoglou & Silver 2016,
"Prioritized Experience Replay", ICLR (the proportional variant).

  p_i  = (|delta_i| + eps)^alpha                 (Section 3.3, proportional)
         `update` receives each sampled item's priority signal (|delta_i|,
         the TD error, for DQN; see agents/lib/value_based.py) and stores
         p_i in a sum-tree (`sum_tree`), one leaf per slot of a FIFO ring.
  P(i) = p_i / sum_k p_k                                      (eq. 1)
         sampled by stratification (Appendix B.2.1): the total is cut into
         `batch_size` equal segments and one item is drawn in each, by one
         batched descent of the tree.
  w_i  = (N P(i))^-beta / max_j w_j                           (Section 3.4)
         N = the items held; max over the sampled batch (as dqn_zoo and
         Dopamine do; the paper's max over the whole buffer needs a min-tree
         and only rescales every weight of a batch by one number);
  beta = beta_0 + (1 - beta_0) min(1, t / T)                  (Section 3.4)
         annealed linearly to 1 over the run's T gradient steps, T computed
         once at build time from the config (value_based.total_gradient_steps),
         t = the priority updates made so far (one per gradient step).
  New items enter at the largest priority p seen so far (Algorithm 1,
  line 6; 1 before any update), so each is replayed at least about once.

Rank-based priorities (Section 3.3) are not provided: they need the items
sorted by |delta| after every update, O(N log N) per gradient step (the
paper amortises it with a heap re-sorted now and then), which is not cheap
at 1e6 items in a compiled loop.

The value-based learner hands back each gradient step's priorities in order
after the learn call's `num_updates` steps (agents/lib/value_based.py), so a
call's batches are drawn from the priorities at its start.

`update` ignores indices outside [0, capacity) (`base.NO_INDEX`): the learner
masks the updates of the calls made before learning starts this way, and
such a call does not advance beta.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from agents.replay import base
from agents.replay import sum_tree
from agents.replay import uniform
from agents.replay.base import ReplaySample


@struct.dataclass
class PrioritizedState:
  ring: uniform.ReplayState  # the items, FIFO
  tree: chex.Array  # sum_tree nodes over p_i = (|delta| + eps)^alpha
  max_priority: chex.Array  # float32, the largest p_i seen (new items get it)
  updates: chex.Array  # int32, priority updates so far (t in beta's anneal)


@dataclasses.dataclass(frozen=True)
class PrioritizedReplay(base.ReplayBuffer):
  """Proportional prioritized replay.

  Attributes:
    capacity: slots of the FIFO ring.
    priority_exponent: alpha in [0, 1]; 0 is uniform sampling.
    importance_exponent: beta_0 in [0, 1], annealed linearly to 1.
    anneal_steps: T, the gradient steps over which beta reaches 1.
    priority_eps: eps > 0 so that no item's probability falls to zero.
  """

  capacity: int
  priority_exponent: float = 0.6
  importance_exponent: float = 0.4
  anneal_steps: int = 1
  priority_eps: float = 1e-6

  def init(
      self, example_item: Any, key: chex.PRNGKey | None = None
  ) -> PrioritizedState:
    del key
    return PrioritizedState(
        ring=uniform.init_ring(self.capacity, example_item),
        tree=sum_tree.init(self.capacity),
        max_priority=jnp.ones((), jnp.float32),
        updates=jnp.zeros((), jnp.int32),
    )

  def add(self, state: PrioritizedState, items: Any) -> PrioritizedState:
    """Writes items [n, ...] in order, each at the largest priority seen."""
    ring, indices = uniform.add_to_ring(self.capacity, state.ring, items)
    tree = sum_tree.set_leaves(
        state.tree,
        indices,
        jnp.broadcast_to(state.max_priority, indices.shape),
        self.capacity,
        unique=True,
    )
    return state.replace(ring=ring, tree=tree)

  def beta(self, state: PrioritizedState) -> chex.Array:
    """beta_0 + (1 - beta_0) min(1, t / T)."""
    fraction = jnp.minimum(
        state.updates.astype(jnp.float32) / max(int(self.anneal_steps), 1), 1.0
    )
    beta_0 = self.importance_exponent
    return beta_0 + (1.0 - beta_0) * fraction

  def sample(
      self, state: PrioritizedState, key: chex.PRNGKey, batch_size: int
  ) -> ReplaySample:
    """Stratified sampling by P(i) with importance weights. With an empty
    buffer: slot 0 with weight 1."""
    total = sum_tree.total(state.tree)
    indices = sum_tree.find(
        state.tree, sum_tree.stratified_targets(key, total, batch_size)
    )
    # `find` returns leaves in [0, capacity): gathers without bounds checks.
    items = jax.tree.map(
        lambda s: s.at[indices].get(mode="promise_in_bounds"),
        state.ring.storage,
    )
    probabilities = sum_tree.get_leaves(state.tree, indices) / jnp.where(
        total > 0, total, 1.0
    )
    weights = importance_weights(
        probabilities, state.ring.size, self.beta(state)
    )
    return ReplaySample(items=items, indices=indices, weights=weights)

  def update(
      self, state: PrioritizedState, indices: chex.Array, priorities: chex.Array
  ) -> PrioritizedState:
    """p_i = (priority_i + eps)^alpha at `indices`; the last of duplicate
    indices wins; indices outside [0, capacity) are ignored."""
    chex.assert_equal_shape([indices, priorities])
    p = (
        priorities.astype(jnp.float32) + self.priority_eps
    ) ** self.priority_exponent
    inside = (indices >= 0) & (indices < self.capacity)
    return state.replace(
        tree=sum_tree.set_leaves(state.tree, indices, p, self.capacity),
        max_priority=jnp.maximum(
            state.max_priority, jnp.max(jnp.where(inside, p, 0.0))
        ),
        updates=state.updates + jnp.any(inside).astype(jnp.int32),
    )

  def size(self, state: PrioritizedState) -> chex.Array:
    return state.ring.size


def importance_weights(
    probabilities: chex.Array, num_items: chex.Array, beta: chex.Array
) -> chex.Array:
  """w_i = (N P(i))^-beta / max_j w_j over the batch; ones where P(i) = 0
  (only an empty buffer) or N = 0."""
  n = jnp.maximum(num_items, 1).astype(jnp.float32)
  positive = probabilities > 0
  w = jnp.where(
      positive, (n * jnp.where(positive, probabilities, 1.0)) ** -beta, 0.0
  )
  max_w = jnp.max(w)
  return jnp.where(
      positive & (max_w > 0), w / jnp.where(max_w > 0, max_w, 1.0), 1.0
  )
