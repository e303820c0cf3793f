"""Pieces every distributional learner and analysis here shares, written once.

* `midpoint_taus(N)`: tau_i = (i + 0.5) / N, i = 0..N-1: QR-DQN's quantile
  midpoints (Dabney et al. 2018a, the paper's tau-hat_i = (tau_{i-1} +
  tau_i) / 2, Lemma 2), ER-DQN's expectile levels (the middle one is 1/2 for
  odd N), the default asymmetries of a population of distributional TD units
  (Dabney et al. 2020) and the grid a quantile function is read on.
* `quantile_regression_loss`, `quantile_q_learning`: the quantile Huber loss
  of QR-DQN and IQN (Dabney et al. 2018a eqs. 9-10, 2018b eq. 3).
* `expectile_regression_loss`: ER-DQN's loss (Rowland et al. 2019, eq. 6).
* `expectile_imputation_loss`: Rowland et al.'s Section 5 imputation
  objective; ER-DQN's imputer (`agents/lib/expectiles.py`) and the dopamine
  decoder (`agents/analysis/dopamine`) minimise this one function.
* `wasserstein1`: W1 between two discrete distributions (numpy, exact).

Losses are rlax-style: pure functions of ONE transition, chex rank/type
checks at the top; the caller vmaps over a batch.

The quantile loss. `quantile_q_learning` is `rlax.quantile_q_learning`,
argument for argument, with the same value and gradient
(tests/test_distributional_losses.py: kappa 1, 0.3 and 0, random data and
exact ties, with and without jit). For u_ij = T theta_j - theta_i and
c_ij = clip(u_ij, -kappa, kappa) = L_kappa'(u_ij), `quantile_regression_loss`
computes

  g_ij = |tau_i - 1{u_ij < 0}| c_ij     (kappa = 0: g_ij = tau_i - 1{u_ij < 0})
  l_ij = g_ij (u_ij - c_ij / 2)         (= rho^kappa_tau_i(u_ij), as
                                         L_kappa(u) = c (u - c/2); kappa = 0:
                                         l_ij = g_ij u_ij = rho_tau_i(u_ij))
  loss = sum_i (1/N') sum_j l_ij,   d loss / d theta_i = -(1/N') sum_j g_ij

in one fused elementwise pass, both row means as one matrix-vector product,
and hands the saved gradient to the backward pass (a `jax.custom_vjp`). At a
tie u_ij = 0 with kappa = 0 the slope is +1 (the pair counts as u >= 0), as
in rlax under JAX, whose d|u|/du is +1 at 0. rlax, and so this file, leaves
out eq. 9's 1/kappa, which changes nothing at kappa = 1.

Why not rlax's loss itself: on XLA:CPU rlax's loss builds several [N, N']
temporaries and differentiates through abs/minimum/select; this form is
several times faster per update (`python -m scripts.benchmark
--only=qr_dqn_catch,qr_dqn_catch_by_quantiles`).

Why our own expectile pieces: rlax has quantile regression but neither the
expectile regression loss nor the imputation objective.
"""

from __future__ import annotations

import functools
from typing import Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

ArrayLike = np.ndarray | Sequence[float] | float


def midpoint_taus(num: int) -> jax.Array:
  """tau_i = (i + 0.5) / N, i = 0..N-1 (float32)."""
  return (jnp.arange(num, dtype=jnp.float32) + 0.5) / num


# ---- quantile regression (QR-DQN, IQN) --------------------------------------


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
  mean_over_targets = jnp.full(
      (dist_target.shape[0],), 1.0 / dist_target.shape[0], u.dtype
  )
  row_means = jnp.stack([l, g]) @ mean_over_targets  # [2, N]
  return jnp.sum(row_means[0]), -row_means[1]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def quantile_regression_loss(
    dist_src: jax.Array,
    tau_src: jax.Array,
    dist_target: jax.Array,
    huber_param: float = 0.0,
) -> jax.Array:
  """`rlax.quantile_regression_loss`: sum_i (1/N') sum_j rho^kappa_tau_i
  (dist_target_j - dist_src_i), the same value and the same gradient in
  `dist_src` (tested). No gradient flows into `dist_target` (rlax's default
  `stop_target_gradients=True`) nor into `tau_src` (sampled or fixed levels,
  never learned here; rlax would differentiate its weight in tau)."""
  return _quantile_regression_terms(
      dist_src, tau_src, dist_target, huber_param
  )[0]


def _quantile_regression_fwd(dist_src, tau_src, dist_target, huber_param):
  loss, grad_src = _quantile_regression_terms(
      dist_src, tau_src, dist_target, huber_param
  )
  return loss, grad_src


def _quantile_regression_bwd(huber_param, grad_src, cotangent):
  del huber_param
  return cotangent * grad_src, None, None


quantile_regression_loss.defvjp(
    _quantile_regression_fwd, _quantile_regression_bwd
)


def quantile_q_learning(
    dist_q_tm1,
    tau_q_tm1,
    a_tm1,
    r_t,
    discount_t,
    dist_q_t_selector,
    dist_q_t,
    huber_param: float = 0.0,
):
  """`rlax.quantile_q_learning` (argument for argument) on the loss above."""
  chex.assert_rank(
      [
          dist_q_tm1,
          tau_q_tm1,
          a_tm1,
          r_t,
          discount_t,
          dist_q_t_selector,
          dist_q_t,
      ],
      [2, 1, 0, 0, 0, 2, 2],
  )
  chex.assert_type(
      [
          dist_q_tm1,
          tau_q_tm1,
          a_tm1,
          r_t,
          discount_t,
          dist_q_t_selector,
          dist_q_t,
      ],
      [float, float, int, float, float, float, float],
  )
  a_t = jnp.argmax(jnp.mean(dist_q_t_selector, axis=0))
  dist_target = jax.lax.stop_gradient(r_t + discount_t * dist_q_t[:, a_t])
  return quantile_regression_loss(
      dist_q_tm1[:, a_tm1], tau_q_tm1, dist_target, huber_param
  )


# ---- expectiles (ER-DQN, the dopamine decoder) ------------------------------


def expectile_regression_loss(
    expectiles_tm1: chex.Array,
    taus: chex.Array,
    target_samples: chex.Array,
    stop_target_gradients: bool = True,
) -> chex.Array:
  """sum_i (1/M) sum_j |tau_i - 1{z_j < e_i}| (z_j - e_i)^2.

  Args:
    expectiles_tm1: [N] learnt expectiles e_i.
    taus: [N] their asymmetries tau_i in (0, 1).
    target_samples: [M] samples z_j of the target distribution.
    stop_target_gradients: whether gradients flow into the targets.

  Returns:
    The scalar loss (rlax convention: sum over statistics, mean over targets).
  """
  chex.assert_rank([expectiles_tm1, taus, target_samples], 1)
  chex.assert_type([expectiles_tm1, taus, target_samples], float)
  chex.assert_equal_shape([expectiles_tm1, taus])
  target_samples = jax.lax.select(
      stop_target_gradients,
      jax.lax.stop_gradient(target_samples),
      target_samples,
  )
  delta = target_samples[None, :] - expectiles_tm1[:, None]  # [N, M]
  below = jax.lax.stop_gradient((delta < 0.0).astype(delta.dtype))
  weight = jnp.abs(taus[:, None] - below)
  return jnp.sum(jnp.mean(weight * delta**2, axis=-1))


def expectile_imputation_loss(
    samples: chex.Array, taus: chex.Array, expectiles: chex.Array
) -> chex.Array:
  """sum_i ( (1/M) sum_j |tau_i - 1{z_j <= e_i}| (z_j - e_i) )^2 (Section 5).

  Each bracket is the expectile first-order condition E[|tau - 1{Z <= e}|
  (Z - e)] = 0 evaluated on the empirical distribution of the samples; it is
  zero for all i iff e_i is the tau_i-expectile of the samples. Continuous
  and piecewise linear in z.

  Args:
    samples: [M] samples z_j.
    taus: [N] asymmetries tau_i.
    expectiles: [N] the tau_i-expectiles e_i to match.
  """
  chex.assert_rank([samples, taus, expectiles], 1)
  chex.assert_type([samples, taus, expectiles], float)
  chex.assert_equal_shape([taus, expectiles])
  below = samples[None, :] <= expectiles[:, None]
  weight = jnp.where(below, 1.0 - taus[:, None], taus[:, None])
  condition = jnp.mean(
      weight * (samples[None, :] - expectiles[:, None]), axis=1
  )
  return jnp.sum(condition**2)


# ---- discrete distributions and W1 ------------------------------------------


def discrete_distribution(
    values: ArrayLike, probs: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray]:
  """(values ascending, probabilities summing to 1) as float64; probs None
  gives equal weights. Raises ValueError on empty, mismatched or negative
  input."""
  values = np.asarray(values, dtype=np.float64).ravel()
  if probs is None:
    probs = np.full(values.shape, 1.0 / values.size)
  probs = np.asarray(probs, dtype=np.float64).ravel()
  if values.shape != probs.shape or values.size == 0:
    raise ValueError("values and probs must be non-empty and of equal length")
  if np.any(probs < 0) or not probs.sum() > 0:
    raise ValueError("probs must be non-negative with a positive sum")
  order = np.argsort(values, kind="stable")
  return values[order], probs[order] / probs.sum()


def wasserstein1(
    values_a: ArrayLike,
    weights_a: ArrayLike | None,
    values_b: ArrayLike,
    weights_b: ArrayLike | None,
) -> float:
  """1-Wasserstein distance between two discrete distributions (weights None
  = equal): the integral of |F_a - F_b| over the merged support.

  Samples are discrete distributions with equal weights, so this also covers
  sample-vs-distribution distances. The same computation as
  `scipy.stats.wasserstein_distance` (tested against it), without scipy.
  """
  va, wa = discrete_distribution(values_a, weights_a)
  vb, wb = discrete_distribution(values_b, weights_b)
  merged = np.sort(np.concatenate([va, vb]), kind="mergesort")
  deltas = np.diff(merged)
  cdf_a = np.concatenate([[0.0], np.cumsum(wa)])
  cdf_b = np.concatenate([[0.0], np.cumsum(wb)])
  cdf_a = cdf_a[va.searchsorted(merged[:-1], "right")] / cdf_a[-1]
  cdf_b = cdf_b[vb.searchsorted(merged[:-1], "right")] / cdf_b[-1]
  return float(np.sum(np.multiply(np.abs(cdf_a - cdf_b), deltas)))


def equally_weighted(values: chex.Array) -> tuple[chex.Array, chex.Array]:
  """(values ascending, equal weights 1/N): N Diracs, as the quantile and
  imputed-sample representations are."""
  values = jnp.sort(values)
  return values, jnp.full(values.shape, 1.0 / values.shape[0], values.dtype)
