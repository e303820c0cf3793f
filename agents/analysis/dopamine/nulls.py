"""A null distribution for the decoding of Dabney et al. 2020: classical-TD
populations with the recordings' own noise, decoded like the real cells
(item 11 of the package docstring).

Why.  Decoded reward distributions are compared with a matched Gaussian in
the paper, but noisy (tau, reversal point) pairs of a classical population
(every cell codes the mean, tau = 1/2) also decode below that Gaussian (a
cloud of pairs around the mean imputes a spread-out distribution), so
beating the Gaussian does not separate the two models.  The discriminating
question is whether the real cells decode better than classical cells with
the SAME noise would.

The null population.  For each recorded cell i, its trials are replaced by
``g_i (u_l - v) + e``: ``u_l`` the utility of reward size l, ``v = sum_l p_l
u_l`` the expected utility (the value every classical unit learns, so every
null cell reverses at the mean, with tau = 1/2), ``g_i`` the cell's own gain
(the least-squares slope of its trial responses on utility), and ``e`` drawn
with replacement from the cell's own residuals around its per-size means
(each rescaled by sqrt(n / (n - 1)) for the mean it was taken around), at
exactly the cell's trials (same counts per size, same NaN padding).  So the
null keeps each cell's gain, noise level and noise shape, and removes
exactly what distributional TD adds: diverse reversal points and
asymmetries.  The null populations then go through the real decoding's
steps (paper's end caps, taus clipped to [0, 1], bounded pooled imputation
with the same settings) and give a distribution of W1.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from agents.analysis.dopamine import cells as cell_estimates
from agents.analysis.dopamine import decoding
from agents.lib import distributional


@dataclasses.dataclass(frozen=True)
class DecodingNull:
  """W1 of decoded null populations, and the ingredients of the null."""

  w1_ul: np.ndarray  # (P,) W1 (microlitres) of each null population's decoding
  gains: np.ndarray  # (C,) each cell's gain g_i
  value_utility: float  # v, every null cell's reversal point (utility)
  num_fallback: int  # populations with an unusable pair, decoded one by one

  def position(self, w1: float) -> dict[str, float]:
    """Where a decoding's W1 falls in the null: the fraction of null W1 at or
    below it (its percentile / 100) and the one-sided empirical p that the
    null decodes at least as well, (1 + #{null <= w1}) / (P + 1)."""
    below = int(np.sum(self.w1_ul <= w1))
    return {
        "fraction_of_null_at_or_below": below / self.w1_ul.size,
        "p_value": (1 + below) / (self.w1_ul.size + 1),
    }


def _gains_and_residuals(
    responses: np.ndarray, utilities: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
  """Per cell: OLS slope of the trial responses on utility, and the pooled
  residuals around the per-size means (rescaled by sqrt(n / (n - 1)))."""
  gains, residuals = [], []
  for cell in responses:
    valid = np.isfinite(cell)
    u = np.broadcast_to(utilities[:, None], cell.shape)[valid]
    y = cell[valid]
    gains.append(np.polyfit(u, y, 1)[0])
    pooled = []
    for row, ok in zip(cell, valid):
      n = int(ok.sum())
      if n >= 2:
        pooled.append((row[ok] - row[ok].mean()) * np.sqrt(n / (n - 1)))
    residuals.append(np.concatenate(pooled))
  return np.asarray(gains), residuals


def classical_null_responses(
    responses: np.ndarray,
    utilities: np.ndarray,
    probabilities: np.ndarray,
    num_populations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, float]:
  """(P, C, L, T) classical-TD responses with each recorded cell's gain and
  noise (see the module docstring), NaN where the recording has no trial;
  also the gains (C,) and the common reversal point v (utility)."""
  responses = np.asarray(responses, dtype=np.float64)
  utilities = np.asarray(utilities, dtype=np.float64)
  probabilities = np.asarray(probabilities, dtype=np.float64)
  value = float(np.sum(probabilities * utilities) / probabilities.sum())
  gains, residuals = _gains_and_residuals(responses, utilities)
  valid = np.isfinite(responses)
  out = np.full((num_populations,) + responses.shape, np.nan)
  for i, (gain, pool) in enumerate(zip(gains, residuals)):
    mean = np.broadcast_to(
        (gain * (utilities - value))[:, None], responses.shape[1:]
    )
    noise = rng.choice(pool, size=(num_populations,) + responses.shape[1:])
    out[:, i] = np.where(valid[i], mean + noise, np.nan)
  return out, gains, value


def decoding_pairs(
    responses: np.ndarray,
    utilities: np.ndarray,
    magnitudes_ul: np.ndarray,
    method: str = "interpolate",
) -> tuple[np.ndarray, np.ndarray]:
  """(tau, reversal point in microlitres) of every cell as the paper decoded
  them: all trials, the paper's end caps, taus clipped to [0, 1].
  responses (..., C, L, T) -> two (..., C) arrays."""
  stats = cell_estimates.trial_statistics(responses)
  reversal = cell_estimates.reversal_from_sign_counts(
      stats[..., cell_estimates.N_POSITIVE],
      stats[..., cell_estimates.N_NEGATIVE],
      utilities,
      method,
      cell_estimates.PAPER_EDGE_INSETS,
  )
  tau = cell_estimates.asymmetry_from_statistics(stats, utilities, reversal).tau
  clip = decoding.DECODING_TAU_CLIP
  tau = np.where(np.isfinite(tau), np.clip(tau, clip, 1.0 - clip), tau)
  return tau, decoding.utility_to_microlitres(
      reversal, utilities, magnitudes_ul
  )


def decoding_null(
    responses: np.ndarray,
    utilities: np.ndarray,
    magnitudes_ul: np.ndarray,
    probabilities: np.ndarray,
    *,
    num_populations: int = 200,
    seed: int = 0,
    num_samples: int = 100,
    num_restarts: int = 10,
    num_candidates: int = 1000,
    steps: int = 2000,
    method: str = "interpolate",
    chunk_size: int = 8,
) -> DecodingNull:
  """W1 of ``num_populations`` classical null populations matched to
  ``responses``, each decoded like the real cells (all cells, paper's caps,
  bounded to the reward range, runs pooled; one imputation key each).

  Args:
    responses: (C, L, T) the recording (real or simulated), NaN-padded.
    utilities: (L,) ascending utility axis of the recording.
    magnitudes_ul: (L,) reward sizes (microlitres): the decoding's units and
      bounds, and the true distribution's support.
    probabilities: (L,) reward probabilities (the true distribution, and the
      weights of the null's value v).
    num_populations: P.
    seed: the null's responses and imputation keys derive from it.
    num_samples, num_restarts, num_candidates, steps: the imputation's, as in
      :func:`decode_reward_distribution`.
    method: reversal-point method.
    chunk_size: populations per vmapped imputation call.
  """
  magnitudes_ul = np.asarray(magnitudes_ul, dtype=np.float64)
  probabilities = np.asarray(probabilities, dtype=np.float64)
  probabilities = probabilities / probabilities.sum()
  rng = np.random.default_rng(seed)
  null, gains, value = classical_null_responses(
      responses, utilities, probabilities, num_populations, rng
  )
  tau, reversal_ul = decoding_pairs(null, utilities, magnitudes_ul, method)
  keys = jax.random.split(jax.random.key(seed), num_populations)
  bounds = (float(magnitudes_ul.min()), float(magnitudes_ul.max()))
  settings = dict(
      num_samples=num_samples,
      num_restarts=num_restarts,
      num_candidates=num_candidates,
      steps=steps,
  )
  usable = np.all(np.isfinite(tau) & np.isfinite(reversal_ul), axis=1)
  w1 = np.full(num_populations, np.nan)
  if usable.any():
    samples = decoding.impute_expectile_samples_batch(
        tau[usable],
        reversal_ul[usable],
        keys[usable],
        bounds,
        chunk_size=chunk_size,
        **settings,
    )
    w1[usable] = [
        distributional.wasserstein1(z, None, magnitudes_ul, probabilities)
        for z in samples
    ]
  for p in np.flatnonzero(~usable):  # a cell without a usable pair drops out
    imputed, _ = decoding.decode_reward_distribution(
        tau[p], reversal_ul[p], key=keys[p], bounds=bounds, **settings
    )
    w1[p] = distributional.wasserstein1(
        imputed.samples, None, magnitudes_ul, probabilities
    )
  return DecodingNull(w1, gains, value, int((~usable).sum()))
