"""Sequence ("movie") replay: fixed-length windows of consecutive steps, as
R2D2 replays them (Kapturowski et al. 2019, "Recurrent experience replay in
distributed reinforcement learning", ICLR, Section 2.3).

What R2D2 stores, and how it lives here:
  * "fixed-length (m = 80) sequences of (s, a, r), with adjacent sequences
    overlapping each other by 40 time steps": a window of `sequence_length`
    consecutive steps may start at every `period`-th step of an environment's
    stream (absolute step counts 0, P, 2P, ...), so consecutive windows
    overlap by `sequence_length - period` steps;
  * "never crossing episode boundaries" is NOT copied: a window here follows
    the stream across episodes, and `Sequence.episode_start` masks where a
    new episode begins inside it (the learner resets its recurrent state
    there and cuts its returns at the LAST step before), so no step of the
    stream is wasted on padding;
  * "stored state": the recurrent state the actor carried INTO a window's
    first step is stored with the window (`SequenceItem.recurrent_state`
    at that step; it is kept only for steps that start a window, so its
    storage holds `steps_per_env / period` states per environment); the
    learner refreshes it with a burn-in prefix of the window (the learner's
    business, see agents/r2d2.py).
  * prioritized sequences (R2D2's p = eta max_i |delta_i| + (1 - eta)
    mean_i |delta_i|, computed by the learner) when `priority_exponent` > 0:
    see "Priorities" below.

Storage: one ring buffer of time steps per environment, all written in
lockstep. `add` takes one time-major chunk [T, num_envs, ...] (the loop's
[T+1, B] trajectory minus its last step, which is the next chunk's first:
each env's stream is then stored without a gap or a repeat). Leaves are
[num_envs, steps_per_env, ...]; `written` counts the steps written to each
environment so far (absolute time). With W = `sequence_length`, P =
`period`, S = `steps_per_env` and w = written, the steps held are the
absolute times [max(w - S, 0), w), and a window starting at absolute time
a = mP may be sampled iff
    max(w - S, 0) <= a   and   a + W <= w.
So every sampled window is whole, consecutive, already written and older
than the write head, by construction: no window spans the head, none mixes
the new lap of the ring with the old one. (S must be a multiple of P, so
the state stored for start m sits in slot m mod (S / P) and is overwritten
exactly when the window's first step is.)

Sampling (uniform): an environment uniformly, then a start m uniformly among
its sampleable starts (every environment holds the same number, having been
written in lockstep), so each sampleable window is equally likely; weights
are ones. `indices` are flat start slots env * (S / P) + (m mod (S / P)).

Priorities (`priority_exponent` alpha > 0): a sum-tree over the start slots
(`agents/replay/sum_tree.py`, shared with prioritized replay). A start
enters the tree, at the maximum priority seen so far, in the `add` that
completes its window; it leaves it (priority 0) in the `add` that overwrites
its first step, so the tree's positive leaves are exactly the sampleable
windows. `update` stores (p + eps)^alpha for the sampled windows, p being
the learner's window priority (R2D2: alpha 0.9). Sampling is stratified
and the importance weights are (N P(i))^-beta / max_j w_j over the batch
(`prioritized.importance_weights`, Schaul et al. 2016) with a fixed beta
(R2D2: 0.6; it is not annealed there).

Safe under jit, vmap (seeds) and shard_map (one buffer per device, fed by
that device's environments): every shape is static, every branch a select.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from agents.replay import base
from agents.replay import prioritized
from agents.replay import sum_tree
from agents.replay.base import ReplaySample
from agents.runtime.errors import UserError


@struct.dataclass
class SequenceItem:
  """One step of an environment's stream, as `add` receives it ([T, B, ...])."""

  step: Any  # the learner's per-step pytree (observation, action, ...)
  first: chex.Array  # bool: this step starts an episode (step_type FIRST)
  recurrent_state: Any  # the actor's state entering this step


@struct.dataclass
class Sequence:
  """A sampled window, as `sample` returns it in `ReplaySample.items`."""

  step: Any  # [batch, sequence_length, ...]
  episode_start: chex.Array  # bool [batch, sequence_length]: a new episode
  # begins at this step (the episode boundaries)
  recurrent_state: Any  # [batch, ...]: the actor's state entering step 0


@struct.dataclass
class SequencePriorities:
  tree: chex.Array  # float32 [2P] sum-tree over the start slots
  max_priority: chex.Array  # float32, the largest p^alpha seen (1 at first)


@struct.dataclass
class SequenceState:
  steps: Any  # [num_envs, steps_per_env, ...]
  first: chex.Array  # bool [num_envs, steps_per_env]
  start_states: Any  # [num_envs, steps_per_env // period, ...]
  written: chex.Array  # int32, steps written to each environment so far
  priorities: Any  # SequencePriorities, or () if uniform


@dataclasses.dataclass(frozen=True)
class SequenceReplay(base.ReplayBuffer):
  """Windows of `sequence_length` steps starting every `period` steps.

  Attributes:
    num_envs: environments feeding this buffer (per device), in lockstep.
    steps_per_env: ring length per environment (a multiple of `period`,
      >= `sequence_length`).
    sequence_length: W, the window (burn-in + learning steps + bootstrap).
    period: P, steps between consecutive window starts (1 <= P <= W).
    priority_exponent: alpha; 0 = uniform sampling.
    importance_exponent: beta of the importance weights (prioritized only;
      fixed, as in R2D2, not annealed).
    priority_eps: eps in p = (priority + eps)^alpha (prioritized only).
  """

  num_envs: int
  steps_per_env: int
  sequence_length: int
  period: int
  priority_exponent: float = 0.0
  importance_exponent: float = 0.6
  priority_eps: float = 1e-6

  def __post_init__(self):
    if not 1 <= self.period <= self.sequence_length:
      raise ValueError(
          f"sequence period {self.period} must be in [1, "
          f"sequence_length={self.sequence_length}]"
      )
    if self.steps_per_env < self.sequence_length:
      raise ValueError(
          f"{self.steps_per_env} steps per environment cannot "
          f"hold a window of {self.sequence_length}"
      )
    if self.steps_per_env % self.period:
      raise ValueError(
          f"steps per environment ({self.steps_per_env}) must "
          f"be a multiple of the period ({self.period})"
      )

  @property
  def prioritized(self) -> bool:
    return self.priority_exponent > 0

  @property
  def starts_per_env(self) -> int:
    return self.steps_per_env // self.period

  @property
  def num_slots(self) -> int:
    """Window start slots (the `indices` of samples and of `update`)."""
    return self.num_envs * self.starts_per_env

  # ---- init / add ---------------------------------------------------------
  def init(
      self, example_item: SequenceItem, key: chex.PRNGKey | None = None
  ) -> SequenceState:
    """`example_item`: one step (no leading axes) fixing shapes and dtypes."""
    del key

    def zeros(rows, x):
      x = jnp.asarray(x)
      return jnp.zeros((self.num_envs, rows, *x.shape), x.dtype)

    steps = jax.tree.map(
        lambda x: zeros(self.steps_per_env, x), example_item.step
    )
    start_states = jax.tree.map(
        lambda x: zeros(self.starts_per_env, x), example_item.recurrent_state
    )
    priorities = ()
    if self.prioritized:
      priorities = SequencePriorities(
          tree=sum_tree.init(self.num_slots),
          max_priority=jnp.ones((), jnp.float32),
      )
    return SequenceState(
        steps=steps,
        first=jnp.zeros((self.num_envs, self.steps_per_env), bool),
        start_states=start_states,
        written=jnp.zeros((), jnp.int32),
        priorities=priorities,
    )

  def add(self, state: SequenceState, items: SequenceItem) -> SequenceState:
    """Appends a time-major chunk [T, num_envs, ...] to every env's stream."""
    shape = jnp.shape(items.first)
    if len(shape) != 2 or shape[1] != self.num_envs:
      raise ValueError(
          f"sequence replay takes time-major chunks [T, "
          f"{self.num_envs}] (its environments), got {shape}"
      )
    chunk = shape[0]
    if chunk > self.steps_per_env:
      raise ValueError(
          f"a chunk of {chunk} steps does not fit a ring of "
          f"{self.steps_per_env} steps per environment"
      )
    times = state.written + jnp.arange(chunk)  # absolute, per env
    slots = times % self.steps_per_env
    env_major = lambda x: jnp.swapaxes(x, 0, 1)  # [T, B, ...] -> [B, T, ...]
    steps = jax.tree.map(
        lambda s, x: s.at[:, slots].set(env_major(x)), state.steps, items.step
    )
    first = state.first.at[:, slots].set(env_major(items.first))
    # Recurrent states only at window starts; other steps write nowhere.
    start_slots = jnp.where(
        times % self.period == 0,
        (times // self.period) % self.starts_per_env,
        self.starts_per_env,
    )
    start_states = jax.tree.map(
        lambda s, x: s.at[:, start_slots].set(env_major(x), mode="drop"),
        state.start_states,
        items.recurrent_state,
    )
    written = state.written + chunk
    priorities = state.priorities
    if self.prioritized:
      priorities = self._enter_and_retire(
          priorities, state.written, written, chunk
      )
    return SequenceState(
        steps=steps,
        first=first,
        start_states=start_states,
        written=written,
        priorities=priorities,
    )

  # ---- which windows may be sampled -----------------------------------------
  def _start_range(self, written: chex.Array) -> tuple[chex.Array, chex.Array]:
    """[first_m, last_m] of sampleable starts (empty when last < first)."""
    oldest = jnp.maximum(written - self.steps_per_env, 0)
    first_m = (oldest + self.period - 1) // self.period
    last_m = jnp.where(
        written >= self.sequence_length,
        (written - self.sequence_length) // self.period,
        -1,
    )
    return first_m, last_m

  def size(self, state: SequenceState) -> chex.Array:
    """The items held: windows that may be sampled now (all environments)."""
    first_m, last_m = self._start_range(state.written)
    return self.num_envs * jnp.maximum(last_m - first_m + 1, 0)

  def steps_held(self, state: SequenceState) -> chex.Array:
    """Time steps held (all environments)."""
    return self.num_envs * jnp.minimum(state.written, self.steps_per_env)

  def _enter_and_retire(
      self, priorities: SequencePriorities, old_written, new_written, chunk
  ) -> SequencePriorities:
    """Sum-tree: completed windows enter at the max priority, overwritten
    ones leave (priority 0). At most chunk // P + 1 starts change each way
    per environment: fixed-size candidate lists, the rest masked out."""
    old_first, old_last = self._start_range(old_written)
    new_first, new_last = self._start_range(new_written)
    candidates = jnp.arange(chunk // self.period + 1)
    envs = jnp.arange(self.num_envs)

    def slots(m, keep):  # [K] starts -> [num_envs * K] slots, or NO_INDEX
      flat = (
          envs[:, None] * self.starts_per_env
          + (m % self.starts_per_env)[None, :]
      )
      return jnp.where(keep[None, :], flat, base.NO_INDEX).reshape(-1)

    retired = old_first + candidates
    retire = jnp.logical_and(retired < new_first, retired <= old_last)
    entered = jnp.maximum(old_last + 1, new_first) + candidates
    enter = entered <= new_last
    retired_slots, entered_slots = slots(retired, retire), slots(entered, enter)
    # Retire first: a slot reused by a newly entering start must end up set.
    tree = sum_tree.set_leaves(
        priorities.tree,
        retired_slots,
        jnp.zeros(retired_slots.shape),
        self.num_slots,
    )
    tree = sum_tree.set_leaves(
        tree,
        entered_slots,
        jnp.broadcast_to(priorities.max_priority, entered_slots.shape),
        self.num_slots,
    )
    return priorities.replace(tree=tree)

  def window_starts(
      self, state: SequenceState, indices: chex.Array
  ) -> tuple[chex.Array, chex.Array]:
    """(environment, absolute start time) of the windows at `indices`
    (sampleable ones: the start in [first_m, first_m + S/P) of each slot)."""
    first_m, _ = self._start_range(state.written)
    env = indices // self.starts_per_env
    m = first_m + (indices % self.starts_per_env - first_m) % (
        self.starts_per_env
    )
    return env, m * self.period

  # ---- sample / update ------------------------------------------------------
  def sample(
      self, state: SequenceState, key: chex.PRNGKey, batch_size: int
  ) -> ReplaySample:
    """`batch_size` windows; weights are 0 if no window is sampleable yet."""
    first_m, last_m = self._start_range(state.written)
    count = jnp.maximum(last_m - first_m + 1, 0)
    if self.prioritized:
      tree = state.priorities.tree
      total = sum_tree.total(tree)
      slots = sum_tree.find(
          tree, sum_tree.stratified_targets(key, total, batch_size)
      )
      probabilities = sum_tree.get_leaves(tree, slots) / jnp.where(
          total > 0, total, 1.0
      )
      weights = prioritized.importance_weights(
          probabilities, self.num_envs * count, self.importance_exponent
      )
    else:
      env_key, start_key = jax.random.split(key)
      env = jax.random.randint(env_key, (batch_size,), 0, self.num_envs)
      m = first_m + jax.random.randint(
          start_key, (batch_size,), 0, jnp.maximum(count, 1)
      )
      slots = env * self.starts_per_env + m % self.starts_per_env
      weights = jnp.ones((batch_size,), jnp.float32)
    env, start = self.window_starts(state, slots)
    m = start // self.period
    weights = jnp.where(count > 0, weights, 0.0)
    times = m[:, None] * self.period + jnp.arange(self.sequence_length)
    step_slots = times % self.steps_per_env  # [batch, W]
    steps = jax.tree.map(lambda s: s[env[:, None], step_slots], state.steps)
    episode_start = state.first[env[:, None], step_slots]
    recurrent_state = jax.tree.map(
        lambda s: s[env, m % self.starts_per_env], state.start_states
    )
    return ReplaySample(
        items=Sequence(
            step=steps,
            episode_start=episode_start,
            recurrent_state=recurrent_state,
        ),
        indices=slots.astype(jnp.int32),
        weights=weights,
    )

  def update(
      self, state: SequenceState, indices: chex.Array, priorities: chex.Array
  ) -> SequenceState:
    """Stores (p + eps)^alpha for the sampled windows; indices outside
    [0, num_slots) (`base.NO_INDEX`) are ignored; the last of duplicate
    indices wins."""
    if not self.prioritized:
      return state
    chex.assert_equal_shape([indices, priorities])
    p = (
        priorities.astype(jnp.float32) + self.priority_eps
    ) ** self.priority_exponent
    inside = (indices >= 0) & (indices < self.num_slots)
    old = state.priorities
    return state.replace(
        priorities=SequencePriorities(
            tree=sum_tree.set_leaves(old.tree, indices, p, self.num_slots),
            max_priority=jnp.maximum(
                old.max_priority, jnp.max(jnp.where(inside, p, 0.0))
            ),
        )
    )


def from_config(config, num_envs: int | None) -> SequenceReplay:
  """The buffer `--config.replay=sequence` names, or a UserError.

  Args:
    config: a sequence learner's config (configs/r2d2.py): `replay_capacity`
      (time steps per device, over its environments), `sequence_length`,
      `sequence_period`, `batch_size`, `rollout_length`.
    num_envs: environments per device, whose time-major chunks the learner
      adds; None when the learner is feed-forward (it adds transitions).
  """
  if num_envs is None:
    raise UserError(
        f"config.replay='sequence' needs a recurrent agent that learns from "
        f"sequences (r2d2); agent {config.get('agent', '?')!r} learns from "
        "single transitions: use another replay kind"
    )
  length = config.sequence_length
  if isinstance(length, bool) or not isinstance(length, int) or length < 2:
    raise UserError(
        f"config.sequence_length={length!r} is not allowed: it "
        "must be an integer >= 2"
    )
  period = config.sequence_period
  if (
      isinstance(period, bool)
      or not isinstance(period, int)
      or not 1 <= period <= length
  ):
    raise UserError(
        f"config.sequence_period={period!r} is not allowed: it "
        f"must be an integer in [1, sequence_length={length}]"
    )
  steps_per_env = (config.replay_capacity // num_envs) // period * period
  needed = max(length, config.rollout_length)
  if steps_per_env < needed:
    raise UserError(
        f"config.replay_capacity={config.replay_capacity} is smaller than "
        f"the sequence window: it gives {steps_per_env} steps to each of "
        f"the {num_envs} environments per device, and each must hold "
        f"sequence_length={length} and rollout_length="
        f"{config.rollout_length} steps (replay_capacity >= "
        f"{needed * num_envs + (period - 1) * num_envs})"
    )
  windows = num_envs * ((steps_per_env - length) // period + 1)
  if windows < config.batch_size:
    raise UserError(
        f"config.replay_capacity={config.replay_capacity} is smaller than "
        f"the batch: it holds {windows} windows of {length} steps when "
        f"full, fewer than config.batch_size={config.batch_size}"
    )
  return SequenceReplay(
      num_envs=num_envs,
      steps_per_env=steps_per_env,
      sequence_length=length,
      period=period,
      priority_exponent=float(config.get("priority_exponent", 0.0)),
      importance_exponent=float(config.get("importance_exponent", 0.6)),
      priority_eps=float(config.get("priority_eps", 1e-6)),
  )
