"""n-step returns over chunks with terminations and truncations inside."""

import chex
import jax.numpy as jnp
import numpy as np

from agents.lib import returns
from environments.base import FIRST, LAST, MID, TimeStep


def _chunk(step_types, rewards, discounts):
  n = len(step_types)
  return TimeStep(step_type=jnp.asarray(step_types, jnp.int32)[:, None],
                  reward=jnp.asarray(rewards, jnp.float32)[:, None],
                  discount=jnp.asarray(discounts, jnp.float32)[:, None],
                  observation=jnp.zeros((n, 1, 1)))


class NStepReturnsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_termination_and_truncation_by_hand(self):
    g = 0.5
    # t: 0 MID, 1 MID, 2 LAST (terminated), 3 FIRST, 4 MID, 5 LAST (truncated), 6 FIRST
    ts = _chunk([MID, MID, LAST, FIRST, MID, LAST, FIRST],
                [0, 1, 2, 0, 3, 4, 0], [1, 1, 0, 1, 1, 1, 1])
    v = jnp.asarray([10, 20, 30, 40, 50, 60, 70], jnp.float32)[:, None]
    got = self.variant(returns.n_step_returns, static_argnums=(2,))(ts, v, g)
    # G5 (action at LAST t=5, masked) continues into next episode: 0 + g*70
    g5 = 0 + g * 70
    g4 = 4 + g * 60  # truncation: bootstrap from v(s5), not from G5
    g3 = 3 + g * g4
    g2 = 0 + g * g3  # action at LAST t=2 is masked; value irrelevant
    g1 = 2 + 0.0  # termination: no bootstrap
    g0 = 1 + g * g1
    np.testing.assert_allclose(got[:, 0], [g0, g1, g2, g3, g4, g5], rtol=1e-6)
    _, _, _, valid = returns.chunk_transitions(ts, g)
    np.testing.assert_array_equal(valid[:, 0],
                                  [True, True, False, True, True, False])

  @chex.variants(with_jit=True, without_jit=True)
  def test_no_boundary_is_plain_n_step(self):
    g = 0.9
    ts = _chunk([MID] * 4, [0, 1, 1, 1], [1, 1, 1, 1])
    v = jnp.asarray([0, 0, 0, 5.0])[:, None]
    got = self.variant(returns.n_step_returns, static_argnums=(2,))(ts, v, g)
    expected0 = 1 + g * 1 + g**2 * 1 + g**3 * 5
    np.testing.assert_allclose(got[0, 0], expected0, rtol=1e-6)
