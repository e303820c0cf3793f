"""QR-DQN: Dabney, Rowland, Bellemare & Munos 2018, "Distributional
reinforcement learning with quantile regression", AAAI.

The return distribution Z(s, a) is N Diracs theta_1..theta_N (s, a) at the
quantile midpoints tau_i = (i + 0.5) / N, i = 0..N-1 (`quantile_midpoints`;
the paper's tau-hat_i = (tau_{i-1} + tau_i) / 2, Lemma 2), N = `num_quantiles`.
The network emits them for every action: [N, num_actions].

  Q(s, a)   = (1/N) sum_j theta_j(s, a)                        -> `action_values`
  a*        = argmax_a' Q(s', a') of the target network (of the online network
              with `double_q`)                          (Algorithm 1, lines 2-3)
  T theta_j = r + gamma * discount * theta_j(s', a*; theta^-)  (Algorithm 1, l. 4)
  loss      = sum_i (1/N) sum_j rho^kappa_tau_i (T theta_j - theta_i(s, a))
                                                        (eq. 10, Algorithm 1 l. 5)
  rho^kappa_tau(u) = |tau - 1{u < 0}| L_kappa(u)                          (eq. 9)

with L_kappa the Huber loss, kappa = `huber_param` (1 in the paper). All of
this is `rlax.quantile_q_learning` for one transition (vmapped over the
batch); rlax leaves out eq. 9's 1/kappa, which changes nothing at kappa = 1.
The loss used is `quantile_q_learning` below: rlax's, argument for argument,
with the same value and gradient (tests/test_distributional_losses.py), but
~3x faster on XLA:CPU (see `quantile_regression_loss`).

Replay, the target network, epsilon-greedy acting and importance weights are
the shared learner in `agents/lib/value_based.py`; this file holds only the
network (`networks.DistributionalQNetwork`, shared with ER-DQN) and the loss.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import ml_collections
import rlax

from agents import types
from agents.lib import networks
from agents.lib import value_based


def quantile_midpoints(num_quantiles: int) -> jax.Array:
  """tau_i = (i + 0.5) / N, i = 0..N-1."""
  return (jnp.arange(num_quantiles, dtype=jnp.float32) + 0.5) / num_quantiles


def _quantile_huber(delta: jax.Array, huber_param: float):
  """(rho-loss without weights, its derivative in delta) for kappa >= 0."""
  if huber_param > 0.0:
    return rlax.huber_loss(delta, huber_param), jnp.clip(
        delta, -huber_param, huber_param)
  return jnp.abs(delta), jnp.sign(delta)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def quantile_regression_loss(dist_src: jax.Array, tau_src: jax.Array,
                             dist_target: jax.Array, huber_param: float = 0.0
                             ) -> jax.Array:
  """`rlax.quantile_regression_loss` (same value, same gradient; tested), with
  the targets' gradient stopped and the sum over targets done as a matmul.

  Why a twin: on XLA:CPU (jax 0.10) the row reductions of rlax's [N, M]
  loss matrix are lowered to YNNPACK reduce fusions that cost ~0.7 us per
  row, which made QR-DQN ~6x slower than DQN on Catch; here forward and
  backward share one elementwise pass whose two row means are one dot, and
  QR-DQN runs at ~0.45x DQN's env steps/s (N = 51, 2-CPU machine).
  """
  return _quantile_regression_fwd(dist_src, tau_src, dist_target,
                                  huber_param)[0]


def _quantile_regression_fwd(dist_src, tau_src, dist_target, huber_param):
  chex.assert_rank([dist_src, tau_src, dist_target], 1)
  chex.assert_type([dist_src, tau_src, dist_target], float)
  delta = dist_target[None, :] - dist_src[:, None]  # [N, M], u = T theta - theta
  weight = jnp.abs(tau_src[:, None] - (delta < 0.0).astype(delta.dtype))
  loss, dloss = _quantile_huber(delta, huber_param)
  mean_over_targets = jnp.full((dist_target.shape[0],),
                               1.0 / dist_target.shape[0], delta.dtype)
  per_source = jnp.stack([weight * loss, -weight * dloss]) @ mean_over_targets
  return jnp.sum(per_source[0]), (per_source[1],)


def _quantile_regression_bwd(huber_param, residuals, cotangent):
  del huber_param
  (grad_src,) = residuals
  return cotangent * grad_src, None, None


quantile_regression_loss.defvjp(_quantile_regression_fwd,
                                _quantile_regression_bwd)


def quantile_q_learning(dist_q_tm1, tau_q_tm1, a_tm1, r_t, discount_t,
                        dist_q_t_selector, dist_q_t, huber_param: float = 0.0):
  """`rlax.quantile_q_learning` (argument for argument) on the loss above."""
  chex.assert_rank([dist_q_tm1, tau_q_tm1, a_tm1, r_t, discount_t,
                    dist_q_t_selector, dist_q_t], [2, 1, 0, 0, 0, 2, 2])
  chex.assert_type([dist_q_tm1, tau_q_tm1, a_tm1, r_t, discount_t,
                    dist_q_t_selector, dist_q_t],
                   [float, float, int, float, float, float, float])
  a_t = jnp.argmax(jnp.mean(dist_q_t_selector, axis=0))
  dist_target = jax.lax.stop_gradient(r_t + discount_t * dist_q_t[:, a_t])
  return quantile_regression_loss(dist_q_tm1[:, a_tm1], tau_q_tm1,
                                  dist_target, huber_param)


def make_network(config: ml_collections.ConfigDict, specs: types.EnvSpecs
                 ) -> networks.DistributionalQNetwork:
  return networks.DistributionalQNetwork(
      num_actions=int(specs.action.num_values),
      num_statistics=int(config.num_quantiles),
      hidden_sizes=tuple(config.hidden_sizes),
      observation_rank=len(specs.observation.shape))


def make_agent(config: ml_collections.ConfigDict,
               specs: types.EnvSpecs) -> types.Agent:
  network = make_network(config, specs)
  taus = quantile_midpoints(config.num_quantiles)

  def action_values(params, observation, key):
    del key
    return jnp.mean(network.apply(params, observation), axis=-2)

  loss = value_based.fixed_statistics_loss(
      network, quantile_q_learning, taus, config.huber_param, config.double_q)

  return value_based.make_from_config(
      config, name="qr_dqn", network=network, action_values=action_values,
      loss=loss)
