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
  loss      = sum_i (1/N') sum_j rho^kappa_tau_i (T theta_j - theta_i(s, a))
                                                        (eq. 10, Algorithm 1 l. 5)
  rho^kappa_tau(u) = |tau - 1{u < 0}| L_kappa(u)                          (eq. 9)

with N' = N target samples and L_kappa the Huber loss, kappa = `huber_param`
(1 in the paper; 0 gives the pure quantile loss |tau - 1{u<0}| |u|, eq. 8).
This is `rlax.quantile_q_learning` for one transition (vmapped over the
batch); rlax, and so this file, leaves out eq. 9's 1/kappa, which changes
nothing at kappa = 1.

`quantile_q_learning` below is rlax's, argument for argument, with the same
value and gradient (tests/test_distributional_losses.py: kappa 1, 0.3 and 0,
random data and exact ties, with and without jit). Only the pairwise loss,
`quantile_regression_loss`, is our own; it computes, for u_ij = T theta_j -
theta_i and c_ij = clip(u_ij, -kappa, kappa) = L_kappa'(u_ij),

  g_ij = |tau_i - 1{u_ij < 0}| c_ij     (kappa = 0: g_ij = tau_i - 1{u_ij < 0})
  l_ij = g_ij (u_ij - c_ij / 2)         (= rho^kappa_tau_i(u_ij), as
                                         L_kappa(u) = c (u - c/2); kappa = 0:
                                         l_ij = g_ij u_ij = rho_tau_i(u_ij))
  loss = sum_i (1/N') sum_j l_ij,   d loss / d theta_i = -(1/N') sum_j g_ij

in one fused elementwise pass, both row means as one matrix-vector product,
and hands the saved gradient to the backward pass (a `jax.custom_vjp`).
At a tie u_ij = 0 with kappa = 0 the slope is +1 (the pair counts as
u >= 0), as in rlax under JAX, whose d|u|/du is +1 at 0.

Why not rlax itself: on XLA:CPU (jax 0.10) rlax's loss builds several [N, N']
temporaries, differentiates through abs/minimum/select, and its row means are
lowered to YNNPACK reduce fusions, which cost far more than their size.
Value and gradient of the batch loss (64 transitions, N = N' = 51) take
~510 us with rlax against ~110 us here on the 2-core benchmark machine (~137
us for the previous version of this twin, which kept rlax's weight and Huber
expressions; end to end +4-7% env steps/s). An exact O(N log N) form (sort
the targets once, prefix sums, search each theta_i) was measured and
rejected: XLA:CPU's sort of the [64, 51] targets alone takes ~300 us.

What is left of the gap to DQN is the cost of N itself: QR-DQN on Catch runs
at ~0.41x DQN's env steps/s at N = 51, side by side (`python -m
scripts.benchmark --only=qr_dqn_catch,qr_dqn_catch_by_quantiles`: N = 1 at
~1.0x, 11 at ~0.8x, 25 at ~0.7x, 200 at ~0.12x). Per learn call (32 env
steps, one update of 64 transitions) DQN takes ~166 us, QR-DQN ~405 us: ~157
us is the loss and ~82 us the head, which has N x num_actions outputs (153
against DQN's 3), run forward twice and backward once per update and at
every acting step, with Adam on its weights (with the loss replaced by a
trivial one QR-DQN still runs at ~0.67x DQN). So the benchmark's 0.8x is out
of reach at N = 51 on XLA:CPU whatever the loss costs. The loss is bound by
XLA:CPU's handling of the [64, 51, 51] pairs: a fused row reduction runs at
~200 ps per element (scalar code: about the same for row lengths 48 to 128,
with or without fast math or 512-bit vectors), and materialising the pairs
for the matrix-vector product costs ~120 ps per element for three
elementwise ops; reducing over the leading axis instead, or splitting the
sums by the sign of u (four row sums), was measured slower.

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

from agents import types
from agents.lib import networks
from agents.lib import value_based


def quantile_midpoints(num_quantiles: int) -> jax.Array:
  """tau_i = (i + 0.5) / N, i = 0..N-1."""
  return (jnp.arange(num_quantiles, dtype=jnp.float32) + 0.5) / num_quantiles


def _quantile_regression_terms(dist_src, tau_src, dist_target, huber_param):
  """(loss, d loss / d dist_src) of `quantile_regression_loss`."""
  chex.assert_rank([dist_src, tau_src, dist_target], 1)
  chex.assert_type([dist_src, tau_src, dist_target], float)
  u = dist_target[None, :] - dist_src[:, None]  # [N, N'], T theta_j - theta_i
  tau = tau_src[:, None]
  if huber_param > 0.0:
    c = jnp.clip(u, -huber_param, huber_param)  # L_kappa'(u)
    g = jnp.where(u < 0.0, 1.0 - tau, tau) * c  # |tau - 1{u<0}| L_kappa'(u)
    l = g * (u - 0.5 * c)  # |tau - 1{u<0}| L_kappa(u)
  else:
    g = jnp.where(u < 0.0, tau - 1.0, tau)  # |tau - 1{u<0}| d|u|/du
    l = g * u  # |tau - 1{u<0}| |u|
  mean_over_targets = jnp.full((dist_target.shape[0],),
                               1.0 / dist_target.shape[0], u.dtype)
  row_means = jnp.stack([l, g]) @ mean_over_targets  # [2, N]
  return jnp.sum(row_means[0]), -row_means[1]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def quantile_regression_loss(dist_src: jax.Array, tau_src: jax.Array,
                             dist_target: jax.Array, huber_param: float = 0.0
                             ) -> jax.Array:
  """`rlax.quantile_regression_loss`: sum_i (1/N') sum_j rho^kappa_tau_i
  (dist_target_j - dist_src_i), the same value and the same gradient in
  `dist_src` (tested). No gradient flows into `dist_target` (rlax's default
  `stop_target_gradients=True`) nor into `tau_src` (sampled or fixed levels,
  never learned here; rlax would differentiate its weight in tau)."""
  return _quantile_regression_terms(dist_src, tau_src, dist_target,
                                    huber_param)[0]


def _quantile_regression_fwd(dist_src, tau_src, dist_target, huber_param):
  loss, grad_src = _quantile_regression_terms(dist_src, tau_src, dist_target,
                                              huber_param)
  return loss, grad_src


def _quantile_regression_bwd(huber_param, grad_src, cotangent):
  del huber_param
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
      config, specs=specs, name="qr_dqn", network=network,
      action_values=action_values, loss=loss)
