"""Imagination replay (agents/replay/imagination.py) and its models
(agents/replay/models.py): tabular transitions follow the learned counts,
imagined items are mixed in at the ratio, the neural model learns."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_env import specs

from agents.replay import base
from agents.replay import imagination
from agents.replay import models
from agents.replay import uniform
from agents.runtime.errors import UserError


def _counts_model():
  """4 states, 2 actions; (1, 0) -> 2 (r 1) x3, -> 3 terminal (r -1) x1;
  (2, 1) -> 0 (r 0.5) x2; an invalid (weight 0) item that must not count."""
  model = models.TabularCountsModel(num_states=4, num_actions=2)
  s = jnp.array([1, 1, 1, 1, 2, 2, 0])
  a = jnp.array([0, 0, 0, 0, 1, 1, 1])
  r = jnp.array([1.0, 1.0, 1.0, -1.0, 0.5, 0.5, 9.0])
  s_next = jnp.array([2, 2, 2, 3, 0, 0, 3])
  terminal = jnp.array([0, 0, 0, 1, 0, 0, 0])
  weight = jnp.array([1, 1, 1, 1, 1, 1, 0])
  state = model.update(model.init(), s, a, r, s_next, terminal, weight)
  return model, state


def test_counts_model_probabilities_are_the_counts():
  model, state = _counts_model()
  p = np.asarray(
      model.probabilities(state, jnp.array([1, 2, 0]), jnp.array([0, 1, 1]))
  )
  expected = np.zeros((3, 4, 2))
  expected[0, 2, 0], expected[0, 3, 1] = 0.75, 0.25
  expected[1, 0, 0] = 1.0  # and (0, 1) was seen only in an invalid item
  np.testing.assert_allclose(p, expected)


def test_counts_model_samples_follow_the_counts():
  model, state = _counts_model()
  n = 20_000
  s_next, reward, terminal, known = jax.jit(model.sample)(
      state,
      jax.random.PRNGKey(0),
      jnp.ones((n,), jnp.int32),
      jnp.zeros((n,), jnp.int32),
  )
  s_next, reward, terminal = map(np.asarray, (s_next, reward, terminal))
  assert np.asarray(known).all()
  assert set(zip(s_next, terminal)) == {(2, 0), (3, 1)}  # only seen outcomes
  freq = np.mean(s_next == 3)
  assert abs(freq - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n)  # binomial, 4 sd
  np.testing.assert_array_equal(reward[s_next == 2], 1.0)  # its mean reward
  np.testing.assert_array_equal(reward[s_next == 3], -1.0)
  _, _, _, known = model.sample(
      state, jax.random.PRNGKey(1), jnp.array([0, 3]), jnp.array([1, 0])
  )
  np.testing.assert_array_equal(known, [False, False])  # never (validly) seen


def test_state_encoding_from_specs():
  index = models.StateEncoding.from_spec(specs.DiscreteArray(7))
  assert (index.num_states, index.one_hot) == (7, False)
  one_hot = models.StateEncoding.from_spec(
      specs.BoundedArray((5,), np.float32, 0.0, 1.0)
  )
  assert (one_hot.num_states, one_hot.one_hot) == (5, True)
  np.testing.assert_array_equal(
      one_hot.index(one_hot.observation(jnp.array([4, 0, 2]))), [4, 0, 2]
  )
  with pytest.raises(UserError, match="imagination_model=neural"):
    models.StateEncoding.from_spec(
        specs.BoundedArray((10, 5), np.float32, 0.0, 1.0)
    )


def _tabular_buffer(ratio):
  encoding = models.StateEncoding(num_states=4, one_hot=True, dtype=jnp.float32)
  return imagination.ImaginationReplay(
      inner=uniform.UniformReplay(64),
      model=models.TabularCountsModel(4, 2),
      ratio=ratio,
      gamma=0.9,
      num_actions=2,
      encoding=encoding,
  )


def _items(encoding, s, a, r, s_next, discount):
  return dict(
      observation=encoding.observation(jnp.array(s)),
      action=jnp.array(a, jnp.int32),
      reward=jnp.array(r, jnp.float32),
      discount=jnp.array(discount, jnp.float32),
      next_observation=encoding.observation(jnp.array(s_next)),
      valid=jnp.ones((len(s),), jnp.float32),
  )


def test_imagined_items_follow_the_learned_counts():
  buffer = _tabular_buffer(ratio=1.0)
  enc = buffer.encoding
  example = jax.tree.map(lambda x: x[0], _items(enc, [0], [0], [0], [0], [1]))
  state = buffer.init(example)
  # from (1, 0): to 2 (r 1) three times, to 3 and the episode ends once
  state = buffer.add(
      state,
      _items(
          enc,
          [1, 1, 1, 1],
          [0, 0, 0, 0],
          [1, 1, 1, -1],
          [2, 2, 2, 3],
          [0.9, 0.9, 0.9, 0.0],
      ),
  )
  sample = jax.jit(buffer.sample, static_argnums=2)(
      state, jax.random.PRNGKey(0), 4000
  )
  items = jax.tree.map(np.asarray, sample.items)
  np.testing.assert_array_equal(sample.indices, base.NO_INDEX)
  np.testing.assert_array_equal(sample.weights, 1.0)
  np.testing.assert_array_equal(items["valid"], 1.0)
  s_next = items["next_observation"].argmax(-1)
  ends = s_next == 3
  assert abs(ends.mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / 4000)
  np.testing.assert_array_equal(items["discount"][ends], 0.0)
  np.testing.assert_allclose(items["discount"][~ends], 0.9)
  np.testing.assert_array_equal(items["reward"][ends], -1.0)
  np.testing.assert_array_equal(items["reward"][~ends], 1.0)
  np.testing.assert_array_equal(items["observation"].argmax(-1), 1)


def test_batch_mixes_real_and_imagined_items_at_the_ratio():
  buffer = _tabular_buffer(ratio=0.25)
  assert buffer.split(8) == (6, 2) and buffer.split(10) == (8, 2)
  enc = buffer.encoding
  example = jax.tree.map(lambda x: x[0], _items(enc, [0], [0], [0], [0], [1]))
  state = buffer.add(
      buffer.init(example),
      _items(enc, [0, 1], [1, 0], [0, 1], [1, 2], [0.9, 0.9]),
  )
  sample = buffer.sample(state, jax.random.PRNGKey(0), 8)
  indices = np.asarray(sample.indices)
  assert (indices[:6] < 2).all() and (indices[6:] == base.NO_INDEX).all()
  # priorities for the batch reach the real items only
  updated = buffer.update(state, sample.indices, jnp.ones((8,)))
  jax.tree.map(np.testing.assert_array_equal, updated, state)


def test_neural_model_learns_a_deterministic_task():
  # s' = s + a (as a float vector), r = a, the episode ends when a = 2
  model = models.NeuralModel(
      num_actions=3,
      observation_shape=(2,),
      hidden_sizes=(32, 32),
      learning_rate=3e-3,
  )
  key = jax.random.PRNGKey(0)
  obs = jax.random.uniform(key, (64, 2))
  action = jnp.arange(64, dtype=jnp.int32) % 3
  items = dict(
      observation=obs,
      action=action,
      reward=action.astype(jnp.float32),
      discount=jnp.where(action == 2, 0.0, 0.9),
      next_observation=obs + action[:, None].astype(jnp.float32),
      valid=jnp.ones((64,)),
  )
  state = model.init(key)
  step = jax.jit(model.train_step)
  first = None
  for _ in range(300):
    state, loss = step(state, items)
    first = loss if first is None else first
  assert loss < first / 20, (first, loss)
  next_obs, reward, discount = model.generate(state, key, obs, action, 0.9)
  np.testing.assert_allclose(next_obs, items["next_observation"], atol=0.3)
  np.testing.assert_allclose(reward, items["reward"], atol=0.3)
  np.testing.assert_allclose(discount, items["discount"])
