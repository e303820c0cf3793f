"""Sequence ("movie") replay: windows against a brute-force reference."""

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from agents import replay
from agents.replay import sequence
from agents.replay import sum_tree
from agents.runtime.errors import UserError

NUM_ENVS, STEPS_PER_ENV, LENGTH, PERIOD, CHUNK = 3, 12, 5, 2, 4


def _stream(num_chunks: int, seed: int = 0):
  """A hand-made stream per env: step data names (env, absolute time); the
  episodes have random lengths (FIRST where a new one starts); the
  'recurrent state' of step (e, a) is a vector made from e and a."""
  rng = np.random.default_rng(seed)
  total = num_chunks * CHUNK
  first = np.zeros((NUM_ENVS, total), bool)
  for e in range(NUM_ENVS):
    a = 0
    while a < total:
      first[e, a] = True
      a += int(rng.integers(1, 7))
  times = np.broadcast_to(np.arange(total), (NUM_ENVS, total))
  envs = np.broadcast_to(np.arange(NUM_ENVS)[:, None], (NUM_ENVS, total))
  states = np.stack([100.0 * envs + times, -1.0 * times], -1)
  return times, envs, first, states.astype(np.float32)


def _chunk(stream, k):
  """The k-th time-major chunk [CHUNK, NUM_ENVS] as a SequenceItem."""
  times, envs, first, states = stream
  cut = lambda x: jnp.swapaxes(
      jnp.asarray(x[:, k * CHUNK : (k + 1) * CHUNK]), 0, 1
  )
  return sequence.SequenceItem(
      step=dict(
          time=cut(times).astype(jnp.int32), env=cut(envs).astype(jnp.int32)
      ),
      first=cut(first),
      recurrent_state=cut(states),
  )


def _reference_starts(written: int) -> set[tuple[int, int]]:
  """Brute force: every (env, start) whose whole window is held and older
  than the write head, starting on the period grid."""
  oldest = max(0, written - STEPS_PER_ENV)
  return {
      (e, a)
      for e in range(NUM_ENVS)
      for a in range(written)
      if a % PERIOD == 0 and a >= oldest and a + LENGTH <= written
  }


def _buffer() -> sequence.SequenceReplay:
  return sequence.SequenceReplay(
      num_envs=NUM_ENVS,
      steps_per_env=STEPS_PER_ENV,
      sequence_length=LENGTH,
      period=PERIOD,
  )


def test_windows_never_cross_the_write_head_and_mask_episodes():
  buffer = _buffer()
  stream = _stream(num_chunks=10)
  times, _, first, states = stream
  example = jax.tree.map(lambda x: x[0, 0], _chunk(stream, 0))
  state = buffer.init(example)
  add = jax.jit(buffer.add)
  sample = jax.jit(buffer.sample, static_argnums=2)
  for k in range(10):
    state = add(state, _chunk(stream, k))
    written = (k + 1) * CHUNK
    reference = _reference_starts(written)
    assert int(buffer.size(state)) == len(reference)
    out = sample(state, jax.random.PRNGKey(k), 512)
    if not reference:
      assert not np.any(np.asarray(out.weights))
      continue
    np.testing.assert_array_equal(out.weights, 1.0)
    step_time = np.asarray(out.items.step["time"])
    step_env = np.asarray(out.items.step["env"])
    e, a = step_env[:, 0], step_time[:, 0]
    seen = set(zip(e.tolist(), a.tolist()))
    assert seen <= reference, (k, seen - reference)
    # Consecutive steps of one environment, all before the head.
    np.testing.assert_array_equal(step_env, e[:, None] + 0 * step_time)
    np.testing.assert_array_equal(step_time, a[:, None] + np.arange(LENGTH))
    assert np.all(a + LENGTH <= written)
    # Episode boundaries where the stream had them.
    window = a[:, None] + np.arange(LENGTH)
    np.testing.assert_array_equal(
        out.items.episode_start, first[e[:, None], window]
    )
    # The state stored with the window is its first step's.
    np.testing.assert_array_equal(out.items.recurrent_state, states[e, a])
    env_of, start_of = buffer.window_starts(state, out.indices)
    np.testing.assert_array_equal(env_of, e)
    np.testing.assert_array_equal(start_of, a)
    # Uniform over the windows: all are drawn, none far more than others.
    assert seen == reference
    counts = np.unique(
        step_env[:, 0] * 1000 + step_time[:, 0], return_counts=True
    )[1]
    assert counts.max() < 4 * counts.min() + 10
  assert int(state.written) == 10 * CHUNK
  del times


def test_vmapped_over_seeds_equals_one_at_a_time():
  buffer = _buffer()
  streams = [_stream(num_chunks=6, seed=s) for s in range(2)]
  example = jax.tree.map(lambda x: x[0, 0], _chunk(streams[0], 0))

  def run(chunks, key):
    state = buffer.init(example)
    state = jax.lax.fori_loop(
        0,
        6,
        lambda k, s: buffer.add(s, jax.tree.map(lambda c: c[k], chunks)),
        state,
    )
    return buffer.sample(state, key, 16)

  chunks = [
      jax.tree.map(lambda *c: jnp.stack(c), *[_chunk(s, k) for k in range(6)])
      for s in streams
  ]
  keys = jax.random.split(jax.random.PRNGKey(3), 2)
  batched = jax.jit(jax.vmap(run))(
      jax.tree.map(lambda *c: jnp.stack(c), *chunks), keys
  )
  for i in range(2):
    single = jax.jit(run)(chunks[i], keys[i])
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x[i], batched), single)


def test_rejects_chunks_of_the_wrong_shape():
  buffer = _buffer()
  stream = _stream(num_chunks=1)
  state = buffer.init(jax.tree.map(lambda x: x[0, 0], _chunk(stream, 0)))
  wrong = jax.tree.map(lambda x: x[:, :2], _chunk(stream, 0))
  with pytest.raises(ValueError, match="time-major"):
    buffer.add(state, wrong)


def _config(**overrides):
  c = ml_collections.ConfigDict(
      dict(
          agent="r2d2",
          replay="sequence",
          replay_capacity=1000,
          sequence_length=10,
          sequence_period=5,
          batch_size=8,
          rollout_length=4,
      )
  )
  c.update(overrides)
  return c


def test_factory_builds_it_and_refuses_bad_input():
  buffer = replay.make_replay(_config(), num_envs=4)
  assert isinstance(buffer, sequence.SequenceReplay)
  assert (buffer.num_envs, buffer.steps_per_env) == (4, 250)
  with pytest.raises(UserError, match="recurrent agent"):
    replay.make_replay(_config(agent="dqn"))  # a feed-forward learner
  with pytest.raises(UserError, match="smaller than the sequence window"):
    replay.make_replay(_config(replay_capacity=36), num_envs=4)
  with pytest.raises(UserError, match="smaller than the batch"):
    replay.make_replay(_config(replay_capacity=200, batch_size=64), num_envs=4)
  with pytest.raises(UserError, match="sequence_period"):
    replay.make_replay(_config(sequence_period=11), num_envs=4)
  with pytest.raises(UserError, match="sequence_length"):
    replay.make_replay(_config(sequence_length=1), num_envs=4)


def test_prioritized_windows_enter_and_leave_with_the_ring():
  buffer = sequence.SequenceReplay(
      num_envs=NUM_ENVS,
      steps_per_env=STEPS_PER_ENV,
      sequence_length=LENGTH,
      period=PERIOD,
      priority_exponent=0.5,
      importance_exponent=0.6,
  )
  stream = _stream(num_chunks=10, seed=1)
  state = buffer.init(jax.tree.map(lambda x: x[0, 0], _chunk(stream, 0)))
  add = jax.jit(buffer.add)
  sample = jax.jit(buffer.sample, static_argnums=2)
  update = jax.jit(buffer.update)
  slots = np.arange(buffer.num_slots)
  for k in range(10):
    state = add(state, _chunk(stream, k))
    reference = _reference_starts((k + 1) * CHUNK)
    leaves = np.asarray(sum_tree.get_leaves(state.priorities.tree, slots))
    env_of, start_of = buffer.window_starts(state, slots)
    held = {
        (int(e), int(a))
        for e, a, leaf in zip(env_of, start_of, leaves)
        if leaf > 0
    }
    # Exactly the sampleable windows have a positive priority.
    assert held == reference, k
    if not reference:
      continue
    out = sample(state, jax.random.PRNGKey(k), 64)
    e = np.asarray(out.items.step["env"][:, 0])
    a = np.asarray(out.items.step["time"][:, 0])
    assert set(zip(e.tolist(), a.tolist())) <= reference
    # Raise one window's priority far above the others': it dominates.
    favourite = int(out.indices[0])
    priorities = jnp.where(out.indices == favourite, 100.0, 0.01)
    state = update(state, out.indices, priorities)
    again = sample(state, jax.random.PRNGKey(100 + k), 64)
    share = float(np.mean(np.asarray(again.indices) == favourite))
    assert share > 0.5, (k, share)
    # Importance weights: (N P(i))^-beta / max w, computed by hand.
    tree = state.priorities.tree
    p = np.asarray(sum_tree.get_leaves(tree, again.indices))
    w = (len(reference) * p / float(sum_tree.total(tree))) ** -0.6
    np.testing.assert_allclose(again.weights, w / w.max(), rtol=1e-4)
    # Masked updates (NO_INDEX) change nothing.
    masked = update(
        state, jnp.full((4,), replay.NO_INDEX, jnp.int32), jnp.full((4,), 1e3)
    )
    chex.assert_trees_all_equal(masked.priorities, state.priorities)
