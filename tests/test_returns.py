"""n-step and lambda returns over chunks with terminations and truncations
inside, and the actor-critic loss built on them (GAE lambda)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import types
from agents.lib import actor_critic
from agents.lib import returns
from agents.runtime import errors
from agents.runtime import train as train_lib
from configs import a2c as a2c_config
from configs import meta_a2c as meta_config
from environments.base import FIRST, LAST, MID, TimeStep


def _chunk(step_types, rewards, discounts):
  n = len(step_types)
  return TimeStep(
      step_type=jnp.asarray(step_types, jnp.int32)[:, None],
      reward=jnp.asarray(rewards, jnp.float32)[:, None],
      discount=jnp.asarray(discounts, jnp.float32)[:, None],
      observation=jnp.zeros((n, 1, 1)),
  )


class NStepReturnsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_termination_and_truncation_by_hand(self):
    g = 0.5
    # t: 0 MID, 1 MID, 2 LAST (terminated), 3 FIRST, 4 MID, 5 LAST (truncated), 6 FIRST
    ts = _chunk(
        [MID, MID, LAST, FIRST, MID, LAST, FIRST],
        [0, 1, 2, 0, 3, 4, 0],
        [1, 1, 0, 1, 1, 1, 1],
    )
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
    np.testing.assert_array_equal(
        valid[:, 0], [True, True, False, True, True, False]
    )

  @chex.variants(with_jit=True, without_jit=True)
  def test_no_boundary_is_plain_n_step(self):
    g = 0.9
    ts = _chunk([MID] * 4, [0, 1, 1, 1], [1, 1, 1, 1])
    v = jnp.asarray([0, 0, 0, 5.0])[:, None]
    got = self.variant(returns.n_step_returns, static_argnums=(2,))(ts, v, g)
    expected0 = 1 + g * 1 + g**2 * 1 + g**3 * 5
    np.testing.assert_allclose(got[0, 0], expected0, rtol=1e-6)

  def test_lambda_zero_is_one_step_td_across_boundaries(self):
    g = 0.5
    ts = _chunk(
        [MID, MID, LAST, FIRST, MID, LAST, FIRST],
        [0, 1, 2, 0, 3, 4, 0],
        [1, 1, 0, 1, 1, 1, 1],
    )
    v = jnp.asarray([10, 20, 30, 40, 50, 60, 70], jnp.float32)[:, None]
    got = returns.n_step_returns(ts, v, g, 0.0)
    # r_{t+1} + gamma * discount_{t+1} * v(s_{t+1}); 0 bootstrap at t=1
    # (termination), v(s5) at t=4 (truncation).
    expected = [
        1 + g * 20,
        2 + 0.0,
        0 + g * 40,
        3 + g * 50,
        4 + g * 60,
        0 + g * 70,
    ]
    np.testing.assert_allclose(got[:, 0], expected, rtol=1e-6)


def _gae_by_hand(rewards, v, gamma, lam):
  """Schulman et al. 2016 eq. 16 for a chunk without episode boundaries."""
  deltas = rewards + gamma * v[1:] - v[:-1]
  adv = np.zeros_like(deltas)
  acc = 0.0
  for t in reversed(range(len(deltas))):
    acc = deltas[t] + gamma * lam * acc
    adv[t] = acc
  return adv


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.95, 1.0])
def test_lambda_return_minus_value_is_gae(lam):
  rng = np.random.default_rng(0)
  rewards = rng.normal(size=6).astype(np.float32)
  v = rng.normal(size=7).astype(np.float32)
  ts = _chunk([MID] * 7, np.concatenate([[0.0], rewards]), [1.0] * 7)
  got = returns.n_step_returns(ts, jnp.asarray(v)[:, None], 0.9, lam)
  np.testing.assert_allclose(
      got[:, 0] - v[:-1],
      _gae_by_hand(rewards, v, 0.9, lam),
      rtol=1e-5,
      atol=1e-5,
  )


def _loss_terms(gae_lambda, **kwargs):
  """Actor-critic loss terms on a fixed 6-step, 3-env chunk (one device)."""
  rng = np.random.default_rng(1)
  t, b, a = 6, 3, 4
  step_types = np.full((t + 1, b), MID)
  step_types[3, 1] = LAST  # a termination inside env 1's chunk
  step_types[4, 1] = FIRST
  discounts = np.where(step_types == LAST, 0.0, 1.0)
  ts = TimeStep(
      step_type=jnp.asarray(step_types, jnp.int32),
      reward=jnp.asarray(rng.normal(size=(t + 1, b)), jnp.float32),
      discount=jnp.asarray(discounts, jnp.float32),
      observation=jnp.zeros((t + 1, b, 1)),
  )
  trajectory = types.Trajectory(
      timestep=ts,
      action=jnp.asarray(rng.integers(0, a, (t, b))),
      extras=(),
      actor_state=(),
  )
  logits = jnp.asarray(rng.normal(size=(t + 1, b, a)), jnp.float32)
  values = jnp.asarray(rng.normal(size=(t + 1, b)), jnp.float32)
  loss = lambda lg, vl, tr: actor_critic.actor_critic_loss(
      lg,
      vl,
      tr,
      gamma=0.9,
      value_coef=0.5,
      entropy_coef=0.01,
      gae_lambda=gae_lambda,
      **kwargs,
  )
  add = lambda x: jax.tree.map(lambda y: y[None], x)
  _, metrics = jax.vmap(loss, axis_name=types.DEVICE_AXIS)(
      add(logits), add(values), add(trajectory)
  )
  return jax.tree.map(lambda x: float(x[0]), metrics), ts, values


def test_actor_critic_loss_regresses_values_on_lambda_returns():
  for lam in (0.0, 0.5, 1.0):
    metrics, ts, values = _loss_terms(lam)
    targets = returns.n_step_returns(ts, values, 0.9, lam)
    _, _, _, valid = returns.chunk_transitions(ts, 0.9)
    mask = np.asarray(valid, np.float32)
    expected = (
        0.5 * np.sum(mask * np.square(targets - values[:-1])) / mask.sum()
    )
    assert metrics["value_loss"] == pytest.approx(float(expected), rel=1e-5)
  # lambda changes the targets, so both the value and the policy terms move.
  zero, one = _loss_terms(0.0)[0], _loss_terms(1.0)[0]
  assert zero["value_loss"] != pytest.approx(one["value_loss"], rel=1e-3)
  assert zero["policy_loss"] != pytest.approx(one["policy_loss"], rel=1e-3)
  assert zero["entropy"] == pytest.approx(one["entropy"])


def test_gae_lambda_default_is_the_papers_n_step_return():
  # Both A2C configs ship lambda 1 (A3C's n-step return); leaving the key out
  # of a forked config keeps that behaviour.
  assert a2c_config.get_config().gae_lambda == 1.0
  assert meta_config.get_config().gae_lambda == 1.0


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_gae_lambda_outside_unit_interval_is_refused(bad):
  c = a2c_config.get_config()
  c.gae_lambda = bad
  with pytest.raises(
      errors.UserError, match=f"gae_lambda={bad} is not allowed"
  ):
    train_lib.validate_config(c)
