"""The memory chain task (bsuite memory_len): dm_env contract, bsuite rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import absltest
from dm_env import test_utils

from environments import base
from environments import dm_env_adapter
from environments import memory_chain
from environments import registry


class MemoryLenDmEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(
        registry.make("memory_len", memory_length=3), seed=4
    )


class MemoryChainTwoBitsDmEnvTest(
    test_utils.EnvironmentTestMixin, absltest.TestCase
):

  def make_object_under_test(self):
    return dm_env_adapter.AsDmEnv(
        memory_chain.MemoryChain(memory_length=2, num_bits=2), seed=5
    )


@pytest.mark.parametrize(
    "memory_length,num_bits", [(1, 1), (2, 1), (5, 1), (4, 3)]
)
def test_matches_bsuite_move_for_move(memory_length, num_bits):
  from bsuite.environments import memory_chain as bsuite_memory_chain

  rng = np.random.default_rng(memory_length)
  env = memory_chain.MemoryChain(memory_length=memory_length, num_bits=num_bits)
  step = jax.jit(env.step)
  reference = bsuite_memory_chain.MemoryChain(
      memory_length=memory_length, num_bits=num_bits, seed=7
  )
  assert env.observation_spec().shape == reference.observation_spec().shape
  assert env.observation_spec().dtype == reference.observation_spec().dtype
  assert env.action_spec().num_values == reference.action_spec().num_values
  state, _ = env.reset(jax.random.PRNGKey(0))
  rewards = []
  ref_ts = reference.reset()
  for episode in range(6):
    if episode:  # both auto-reset on the step after LAST
      ref_ts = reference.step(0)
      state, ts = step(state, jnp.int32(1))
      assert int(ts.step_type) == base.FIRST
    # Play bsuite's drawn context and query in ours.
    state = state.replace(
        inner=state.inner.replace(
            context=jnp.asarray(reference._context, jnp.int32),
            query=jnp.asarray(reference._query, jnp.int32),
        )
    )
    np.testing.assert_array_equal(
        env._observation(state.inner), ref_ts.observation
    )
    steps = 0
    while not ref_ts.last():
      action = int(rng.integers(2))
      ref_ts = reference.step(action)
      state, ts = step(state, jnp.int32(action))
      steps += 1
      np.testing.assert_array_equal(ts.observation, ref_ts.observation)
      assert float(ts.reward) == ref_ts.reward
      assert float(ts.discount) == ref_ts.discount
      assert int(ts.step_type) == int(ref_ts.step_type)
    assert steps == memory_length + 1
    rewards.append(float(ts.reward))
  assert set(rewards) <= {-1.0, 1.0}


def test_context_is_a_fair_bit_and_memoryless_answer_is_chance():
  env = registry.make("memory_len", memory_length=4)
  keys = jax.random.split(jax.random.PRNGKey(0), 4000)
  state, ts = jax.vmap(env.reset)(keys)
  context = np.asarray(state.inner.context[:, 0])
  assert abs(context.mean() - 0.5) < 0.03
  # FIRST observation shows the context as 2c - 1; always answering 1
  # (what a memoryless agent can at best do) is right half of the time.
  np.testing.assert_array_equal(ts.observation[:, 0, 2], 2 * context - 1)
  step = jax.jit(jax.vmap(env.step))
  for _ in range(env.memory_length + 1):
    state, ts = step(state, jnp.ones((4000,), jnp.int32))
  assert bool(np.all(ts.last()))
  np.testing.assert_array_equal(np.asarray(ts.reward), 2 * context - 1)
  assert abs(float(np.mean(ts.reward == 1.0)) - 0.5) < 0.03


def test_bad_parameters_are_refused():
  with pytest.raises(registry.UnknownTaskError, match="memory_length"):
    registry.make("memory_len", memory_length=0)
