"""agents/replay: uniform (FIFO order, filled slots only), the sum-tree
against a brute-force reference, prioritized sampling and importance weights."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.replay import base
from agents.replay import prioritized
from agents.replay import sum_tree
from agents.replay import uniform as replay


class UniformReplayTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_wraps_around_in_fifo_order(self):
    buffer = replay.UniformReplay(capacity=5)
    add = self.variant(buffer.add)
    state = buffer.init(dict(x=jnp.zeros((2,)), i=jnp.zeros((), jnp.int32)))
    items = lambda lo, n: dict(
        x=jnp.stack([jnp.arange(lo, lo + n)] * 2, -1).astype(jnp.float32),
        i=jnp.arange(lo, lo + n, dtype=jnp.int32),
    )
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
        state, jax.random.PRNGKey(0), 4096
    )
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
        jnp.arange(3)
    )
    states = jax.vmap(buffer.add)(
        states, dict(i=jnp.arange(6, dtype=jnp.int32).reshape(3, 2))
    )
    np.testing.assert_array_equal(states.size, [2, 2, 2])
    np.testing.assert_array_equal(
        states.storage["i"][:, :2], [[0, 1], [2, 3], [4, 5]]
    )


# ---- sum-tree against a brute-force reference --------------------------------


def _check_tree(tree, leaves):
  """Every internal node is the sum of its children; leaves as expected."""
  nodes = np.asarray(tree, np.float64)
  s = nodes.shape[0] // 2
  np.testing.assert_allclose(nodes[s : s + len(leaves)], leaves, rtol=1e-6)
  assert not nodes[s + len(leaves) :].any()  # past capacity: 0
  np.testing.assert_allclose(
      nodes[1:s], nodes[2::2] + nodes[3::2], rtol=1e-5, atol=1e-6
  )


@pytest.mark.parametrize("capacity", [1, 5, 32, 33, 1100])
def test_sum_tree_totals_after_updates_with_duplicates(capacity):
  rng = np.random.default_rng(capacity)
  tree = sum_tree.init(capacity)
  reference = np.zeros(capacity)
  set_leaves = jax.jit(sum_tree.set_leaves, static_argnums=3)
  for _ in range(20):
    indices = rng.integers(0, capacity, size=16)  # many duplicates
    values = rng.uniform(0, 5, size=16).astype(np.float32)
    tree = set_leaves(
        tree, jnp.asarray(indices, jnp.int32), jnp.asarray(values), capacity
    )
    for i, v in zip(indices, values):  # brute force: writes in order
      reference[i] = v
    _check_tree(tree, reference)
    np.testing.assert_allclose(sum_tree.total(tree), reference.sum(), rtol=1e-5)


def test_sum_tree_ignores_indices_outside_the_capacity():
  tree = sum_tree.set_leaves(
      sum_tree.init(5), jnp.array([0, 1]), jnp.array([1.0, 2.0]), 5
  )
  after = sum_tree.set_leaves(
      tree,
      jnp.array([5, 7, -1, base.NO_INDEX]),
      jnp.array([9.0, 9.0, 9.0, 9.0]),
      5,
  )
  jax.tree.map(np.testing.assert_array_equal, after, tree)


@pytest.mark.parametrize("capacity", [23, 1100])
def test_sum_tree_find_matches_prefix_sums(capacity):
  rng = np.random.default_rng(0)
  leaves = rng.uniform(0, 1, size=capacity) * (rng.uniform(size=capacity) > 0.3)
  tree = sum_tree.set_leaves(
      sum_tree.init(capacity),
      jnp.arange(capacity),
      jnp.asarray(leaves, jnp.float32),
      capacity,
  )
  total = float(sum_tree.total(tree))
  targets = np.concatenate([rng.uniform(0, total, size=500), [0.0, total]])
  found = np.asarray(sum_tree.find(tree, jnp.asarray(targets, jnp.float32)))
  cumsum = np.cumsum(
      np.asarray(sum_tree.get_leaves(tree, jnp.arange(capacity)), np.float64)
  )
  expected = np.minimum(
      np.searchsorted(cumsum, targets, side="right"), capacity - 1
  )
  expected = np.array(
      [e if leaves[e] > 0 else np.flatnonzero(leaves)[-1] for e in expected]
  )  # past the end: last positive leaf
  # float32 sums may move a target lying within rounding of a boundary
  near = np.min(np.abs(cumsum[None, :] - targets[:, None]), axis=1) < 1e-5
  np.testing.assert_array_equal(found[~near], expected[~near])
  assert (leaves[found] > 0).all()  # never a zero-priority leaf


# ---- prioritized replay ------------------------------------------------------


def _filled(buffer, priorities):
  """A buffer holding items 0..n-1 (item = its slot) at `priorities`."""
  n = len(priorities)
  state = buffer.init(dict(i=jnp.zeros((), jnp.int32)))
  state = buffer.add(state, dict(i=jnp.arange(n, dtype=jnp.int32)))
  return buffer.update(
      state,
      jnp.arange(n, dtype=jnp.int32),
      jnp.asarray(priorities, jnp.float32),
  )


def test_prioritized_sampling_frequencies_chi_square():
  from scipy import stats

  priorities = np.array([0.1, 1.0, 2.0, 0.5, 4.0, 0.0, 3.0, 1.5])
  buffer = prioritized.PrioritizedReplay(
      capacity=12, priority_exponent=0.7, priority_eps=0.01
  )
  state = _filled(buffer, priorities)
  sample = jax.jit(
      jax.vmap(buffer.sample, in_axes=(None, 0, None)), static_argnums=2
  )
  draws = sample(state, jax.random.split(jax.random.PRNGKey(1), 2000), 16)
  counts = np.bincount(np.asarray(draws.indices).ravel(), minlength=12)
  assert counts[8:].sum() == 0  # unwritten slots: zero priority, never drawn
  p = (priorities + 0.01) ** 0.7
  expected = p / p.sum() * counts.sum()
  chi2 = ((counts[:8] - expected) ** 2 / expected).sum()
  # stratification makes the counts less spread than multinomial ones, so
  # the test's false-alarm rate is below 0.1%
  assert chi2 < stats.chi2.ppf(0.999, df=7), (counts, expected)
  # and a wrong distribution (uniform) is refused by the same statistic
  uniform_expected = np.full(8, counts.sum() / 8)
  assert ((counts[:8] - uniform_expected) ** 2 / uniform_expected).sum() > (
      stats.chi2.ppf(0.999, df=7)
  )


def test_prioritized_sampling_is_stratified():
  priorities = np.array([1.0, 3.0, 0.5, 2.0, 2.5, 1.0])
  buffer = prioritized.PrioritizedReplay(
      capacity=6, priority_exponent=1.0, priority_eps=1e-6
  )
  state = _filled(buffer, priorities)
  total = float(sum_tree.total(state.tree))
  cumsum = np.concatenate([[0.0], np.cumsum(priorities + 1e-6)])
  draws = jax.jit(
      jax.vmap(buffer.sample, in_axes=(None, 0, None)), static_argnums=2
  )(state, jax.random.split(jax.random.PRNGKey(0), 20), 5)
  for indices in np.asarray(draws.indices):
    for j, i in enumerate(indices):  # item i's interval meets segment j
      lo, hi = j * total / 5, (j + 1) * total / 5
      assert cumsum[i] <= hi + 1e-5 and cumsum[i + 1] >= lo - 1e-5, (j, i)
    assert (np.diff(indices) >= 0).all()  # segments in order


def test_importance_weights_by_hand():
  # alpha = 1, eps ~ 0: P = (1, 2, 3, 4) / 10, N = 4, beta_0 = 0.5.
  buffer = prioritized.PrioritizedReplay(
      capacity=8,
      priority_exponent=1.0,
      importance_exponent=0.5,
      anneal_steps=10,
      priority_eps=1e-9,
  )
  state = _filled(buffer, [1.0, 2.0, 3.0, 4.0])  # one update: t = 1
  beta = 0.5 + 0.5 * 1 / 10
  np.testing.assert_allclose(buffer.beta(state), beta, rtol=1e-6)
  sample = buffer.sample(state, jax.random.PRNGKey(0), 4)
  # the four segments of [0, 10) hold items 0-1, 1-2, 2-3 and 3
  p = np.array([1.0, 2.0, 3.0, 4.0])[np.asarray(sample.indices)] / 10
  w = (4 * p) ** -beta
  np.testing.assert_allclose(sample.weights, w / w.max(), rtol=1e-5)
  # by hand for items 0 and 3: (4 * 0.1)^-0.55 / (4 * 0.4)^-0.55 = 4^0.55
  ws = prioritized.importance_weights(
      jnp.array([0.1, 0.4]), jnp.int32(4), jnp.float32(0.55)
  )
  np.testing.assert_allclose(ws, [1.0, 0.25**0.55], rtol=1e-6)


def test_beta_anneals_to_one_and_masked_updates_do_not_count():
  buffer = prioritized.PrioritizedReplay(
      capacity=4, importance_exponent=0.4, anneal_steps=4
  )
  state = _filled(buffer, [1.0, 1.0])
  update = jax.jit(buffer.update)
  masked = update(
      state, jnp.full((2,), base.NO_INDEX, jnp.int32), jnp.array([50.0, 50.0])
  )
  assert int(masked.updates) == int(state.updates) == 1
  jax.tree.map(np.testing.assert_array_equal, masked.tree, state.tree)
  assert float(masked.max_priority) == float(state.max_priority)
  betas = []
  for _ in range(5):
    betas.append(float(buffer.beta(state)))
    state = update(state, jnp.array([0, 1]), jnp.array([1.0, 1.0]))
  np.testing.assert_allclose(betas, [0.55, 0.7, 0.85, 1.0, 1.0], rtol=1e-6)


def test_new_items_enter_at_the_largest_priority_seen():
  buffer = prioritized.PrioritizedReplay(
      capacity=8, priority_exponent=0.5, priority_eps=0.0
  )
  state = _filled(buffer, [4.0, 16.0, 1.0])  # p = 2, 4, 1
  state = buffer.update(state, jnp.array([1]), jnp.array([0.0]))
  state = buffer.add(state, dict(i=jnp.array([7, 8], jnp.int32)))
  np.testing.assert_allclose(
      sum_tree.get_leaves(state.tree, jnp.arange(8)),
      [2.0, 0.0, 1.0, 4.0, 4.0, 0.0, 0.0, 0.0],
      rtol=1e-6,
  )


def test_prioritized_state_vmaps_over_seeds_and_jits():
  buffer = prioritized.PrioritizedReplay(capacity=16, anneal_steps=5)
  init = jax.vmap(lambda _: buffer.init(dict(i=jnp.zeros((), jnp.int32))))
  states = init(jnp.arange(3))
  states = jax.jit(jax.vmap(buffer.add))(
      states, dict(i=jnp.arange(12, dtype=jnp.int32).reshape(3, 4))
  )
  samples = jax.jit(
      jax.vmap(buffer.sample, in_axes=(0, 0, None)), static_argnums=2
  )(states, jax.random.split(jax.random.PRNGKey(0), 3), 4)
  assert samples.items["i"].shape == (3, 4)
  for s in range(3):  # each seed samples only its own items
    assert set(np.asarray(samples.items["i"][s])) <= set(
        range(4 * s, 4 * s + 4)
    )
  states = jax.jit(jax.vmap(buffer.update))(
      states, samples.indices, jnp.ones((3, 4))
  )
  np.testing.assert_array_equal(states.updates, [1, 1, 1])


# ---- configuration -----------------------------------------------------------


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(replay="movie"), "config.replay='movie' is not allowed"),
        (dict(priority_exponent=1.5), "priority_exponent=1.5 is not allowed"),
        (dict(priority_exponent=-0.5), "priority_exponent=-0.5 is not allowed"),
        (dict(importance_exponent=1.01), "importance_exponent=1.01"),
        (dict(priority_eps=0.0), "priority_eps=0.0 is not allowed"),
        (dict(replay_capacity=32), "smaller than config.batch_size=64"),
        (dict(imagination_ratio=-0.1), "imagination_ratio=-0.1 is not allowed"),
        (dict(imagination_ratio=1.5), "imagination_ratio=1.5 is not allowed"),
        (dict(imagination_model="world"), "imagination_model='world'"),
        (dict(imagination_replay="imagination"), "imagination_replay="),
        (dict(model_learning_rate=0.0), "model_learning_rate=0.0"),
        (dict(model_hidden_sizes=()), "model_hidden_sizes=()"),
    ],
)
def test_bad_replay_settings_are_user_errors(overrides, message):
  from agents import replay as replay_lib
  from agents.runtime.errors import UserError
  from configs import dqn

  config = dqn.get_config("catch")
  config.update(overrides)
  with pytest.raises(
      UserError, match=message.replace("(", r"\(").replace(")", r"\)")
  ):
    replay_lib.make_replay(config)


@pytest.mark.parametrize("kind", ["uniform", "prioritized", "imagination"])
def test_every_kind_is_built_from_the_config(kind):
  from agents import replay as replay_lib
  from agents import types
  from configs import dqn
  from environments import catch

  env = catch.Catch()
  config = dqn.get_config("catch")
  config.replay = kind
  buffer = replay_lib.make_replay(
      config,
      types.EnvSpecs(env.observation_spec(), env.action_spec()),
      gradient_steps=100,
  )
  assert isinstance(buffer, replay_lib.ReplayBuffer)
  assert type(buffer).__name__.lower().startswith(kind)


def test_sum_tree_write_paths_give_the_same_bits():
  """Entry-by-entry writes (CPU), the same under vmap (seeds one after
  another) and the level-at-a-time batched form (accelerators) agree."""
  capacity = 1100
  rng = np.random.default_rng(0)
  indices = jnp.asarray(rng.integers(-1, capacity + 1, (3, 40)), jnp.int32)
  values = jnp.asarray(rng.random((3, 40)), jnp.float32)
  trees = jnp.stack([sum_tree.init(capacity)] * 3)
  vmapped = jax.jit(
      jax.vmap(lambda t, i, v: sum_tree.set_leaves(t, i, v, capacity))
  )(trees, indices, values)
  for k in range(3):
    single = sum_tree.set_leaves(
        sum_tree.init(capacity), indices[k], values[k], capacity
    )
    batched = sum_tree._set_batched(  # pylint: disable=protected-access
        sum_tree.init(capacity), indices[k], values[k], jnp.int32(capacity)
    )
    np.testing.assert_array_equal(vmapped[k], single)
    np.testing.assert_array_equal(batched, single)
    last = {}
    for i, v in zip(np.asarray(indices[k]), np.asarray(values[k])):
      if 0 <= i < capacity:
        last[int(i)] = v
    expected = np.zeros(capacity, np.float32)
    expected[list(last)] = list(last.values())
    _check_tree(single, expected)
