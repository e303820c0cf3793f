"""Sample imputation for ER-DQN (Rowland, Dadashi, Kumar, Munos, Bellemare &
Dabney 2019, "Statistics and samples in distributional reinforcement
learning", ICML, Section 5).

Why this module exists: rlax has no imputation step that turns a set of
expectiles back into samples, and ER-DQN needs one for every transition.
The loss it minimises, and ER-DQN's expectile regression loss, live with the
other shared distributional pieces in `agents/lib/distributional.py`.

The tau-expectile e of Z is the minimiser of the asymmetric squared loss
E[ |tau - 1{Z < e}| (Z - e)^2 ] (Rowland et al. eq. 6), equivalently the root
of the first-order condition

  E[ |tau - 1{Z <= e}| (Z - e) ] = 0.

* `impute_samples` -- a jittable minimiser of
  `distributional.expectile_imputation_loss` (sum_i ( (1/M) sum_j |tau_i -
  1{z_j <= e_i}| (z_j - e_i) )^2, zero iff every e_i is the tau_i-expectile
  of the samples): the conditions c_i(z) are piecewise linear in z with
  Jacobian dc_i/dz_j = |tau_i - 1{z_j <= e_i}| / M, so a damped Gauss-Newton
  (Levenberg-Marquardt) step solves them exactly once the ordering of samples
  and expectiles is right; a few (`num_steps`) steps started from the
  expectiles themselves suffice. (The dopamine analysis' imputer - Adam runs
  from random starts, pooled as the paper did to decode 40 noisy neurons - is
  too slow for every transition of every batch; this one is not meant for
  noisy inputs.)
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def _conditions_and_jacobian(samples, taus, expectiles):
  """c_i(z) = (1/M) sum_j w_ij (z_j - e_i) and dc_i/dz_j = w_ij / M."""
  below = samples[None, :] <= expectiles[:, None]
  weight = jnp.where(below, 1.0 - taus[:, None], taus[:, None])  # [N, M]
  num_samples = samples.shape[0]
  conditions = jnp.mean(
      weight * (samples[None, :] - expectiles[:, None]), axis=1
  )
  return conditions, weight / num_samples


def impute_samples(
    taus: chex.Array,
    expectiles: chex.Array,
    num_steps: int = 10,
    initial_damping: float = 0.1,
) -> chex.Array:
  """Samples z (one per expectile) whose tau_i-expectiles are `expectiles`.

  Levenberg-Marquardt on `distributional.expectile_imputation_loss`, started
  from z = e:
    (J^T J + mu diag-mean(J^T J) I) dz = -J^T c  (a Cholesky solve),
  a step is kept only when it lowers the loss (then mu /= 3, else mu *= 3).
  `num_steps` and the damping are static/dynamic scalars; the result is under
  `stop_gradient` (targets are not differentiated through).

  Args:
    taus: [N] asymmetries in (0, 1), e.g. (i + 0.5) / N.
    expectiles: [N] the tau_i-expectiles to match (any order).
    num_steps: LM iterations.
    initial_damping: mu at the first step.

  Returns:
    [N] samples, sorted ascending.
  """
  chex.assert_rank([taus, expectiles], 1)
  chex.assert_type([taus, expectiles], float)
  chex.assert_equal_shape([taus, expectiles])
  taus = jax.lax.stop_gradient(taus)
  expectiles = jax.lax.stop_gradient(expectiles)
  num = expectiles.shape[0]
  eye = jnp.eye(num, dtype=expectiles.dtype)

  def loss_of(z):
    conditions, _ = _conditions_and_jacobian(z, taus, expectiles)
    return jnp.sum(conditions**2)

  def step(carry, _):
    z, loss, damping = carry
    conditions, jacobian = _conditions_and_jacobian(z, taus, expectiles)
    # J^T J and J^T c as broadcast sums: XLA:CPU fuses these, where a
    # batched dot of many tiny matrices is slower. The damped matrix is
    # symmetric positive definite (every w_ij > 0), so Cholesky solves it.
    normal = jnp.sum(jacobian[:, :, None] * jacobian[:, None, :], axis=0)
    gradient = jnp.sum(jacobian * conditions[:, None], axis=0)
    scale = jnp.mean(jnp.diag(normal))
    factor = jax.scipy.linalg.cho_factor(normal + damping * scale * eye)
    dz = jax.scipy.linalg.cho_solve(factor, -gradient[:, None])[:, 0]
    candidate = z + dz
    candidate_loss = loss_of(candidate)
    better = candidate_loss < loss
    z = jnp.where(better, candidate, z)
    loss = jnp.where(better, candidate_loss, loss)
    damping = jnp.where(better, damping / 3.0, damping * 3.0)
    return (z, loss, damping), None

  z0 = expectiles
  carry = (z0, loss_of(z0), jnp.asarray(initial_damping, expectiles.dtype))
  (z, _, _), _ = jax.lax.scan(step, carry, None, length=num_steps)
  return jnp.sort(z)
