"""Uniform replay (agents/replay/uniform.py): FIFO order, filled slots only."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.replay import uniform as replay


class UniformReplayTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_wraps_around_in_fifo_order(self):
    buffer = replay.UniformReplay(capacity=5)
    add = self.variant(buffer.add)
    state = buffer.init(dict(x=jnp.zeros((2,)), i=jnp.zeros((), jnp.int32)))
    items = lambda lo, n: dict(x=jnp.stack([jnp.arange(lo, lo + n)] * 2, -1)
                               .astype(jnp.float32),
                               i=jnp.arange(lo, lo + n, dtype=jnp.int32))
    state = add(state, items(0, 3))
    assert int(state.size) == 3 and int(state.insert_position) == 3
    state = add(state, items(3, 4))  # 7 items into 5 slots
    assert int(state.size) == 5 and int(state.insert_position) == 2
    # slots hold the 5 newest items: 5, 6 overwrote slots 0, 1
    np.testing.assert_array_equal(state.storage["i"], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(state.storage["x"][:, 0], [5, 6, 2, 3, 4])

  @chex.variants(with_jit=True, without_jit=True)
  def test_samples_only_filled_slots(self):
    buffer = replay.UniformReplay(capacity=100)
    state = buffer.init(dict(i=jnp.zeros((), jnp.int32)))
    state = buffer.add(state, dict(i=jnp.arange(1, 8, dtype=jnp.int32)))
    sample = self.variant(buffer.sample, static_argnums=2)(
        state, jax.random.PRNGKey(0), 4096)
    values = np.asarray(sample.items["i"])
    assert values.min() >= 1 and values.max() <= 7  # never an empty slot (0)
    counts = np.bincount(values, minlength=8)[1:]
    assert counts.min() > 4096 / 7 * 0.8  # roughly uniform over the 7 items
    np.testing.assert_array_equal(sample.weights, np.ones(4096))

  def test_rejects_more_items_than_capacity(self):
    buffer = replay.UniformReplay(capacity=3)
    state = buffer.init(dict(i=jnp.zeros((), jnp.int32)))
    with pytest.raises(ValueError, match="capacity"):
      buffer.add(state, dict(i=jnp.arange(4, dtype=jnp.int32)))

  def test_state_is_a_pytree_that_vmaps_over_seeds(self):
    buffer = replay.UniformReplay(capacity=4)
    states = jax.vmap(lambda _: buffer.init(dict(i=jnp.zeros((), jnp.int32))))(
        jnp.arange(3))
    states = jax.vmap(buffer.add)(states, dict(
        i=jnp.arange(6, dtype=jnp.int32).reshape(3, 2)))
    np.testing.assert_array_equal(states.size, [2, 2, 2])
    np.testing.assert_array_equal(states.storage["i"][:, :2],
                                  [[0, 1], [2, 3], [4, 5]])
