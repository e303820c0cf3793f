"""Statistics of Dabney et al. 2020's analysis: split-half reliability and
correlations, exact expectiles and quantiles of discrete distributions, and
the baselines (matched Gaussian, uniform, point mass) a decoded distribution
is compared with in W1 (items 3, 6, 7 and 8 of the package docstring).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.integrate
import scipy.stats

from agents.analysis.dopamine import cells
from agents.lib import distributional

# ---------------------------------------------------------------------------
# 3. Split halves
# ---------------------------------------------------------------------------


def pearson_with_pvalue(
    x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Row-wise Pearson r, two-sided p (t test, n - 2 dof) and n, over pairs
  finite in both.

  x, y: (..., n).  Rows with fewer than 3 complete pairs or no variance give
  NaN.
  """
  x = np.asarray(x, dtype=np.float64)
  y = np.asarray(y, dtype=np.float64)
  ok = np.isfinite(x) & np.isfinite(y)
  n = ok.sum(axis=-1)
  nn = np.maximum(n, 1)
  xm = np.where(ok, x, 0.0).sum(axis=-1, keepdims=True) / nn[..., None]
  ym = np.where(ok, y, 0.0).sum(axis=-1, keepdims=True) / nn[..., None]
  dx = np.where(ok, x - xm, 0.0)
  dy = np.where(ok, y - ym, 0.0)
  sxx, syy, sxy = (dx * dx).sum(-1), (dy * dy).sum(-1), (dx * dy).sum(-1)
  good = (n >= 3) & (sxx > 0) & (syy > 0)
  r = np.where(good, sxy / np.sqrt(np.where(good, sxx * syy, 1.0)), np.nan)
  r = np.clip(r, -1.0, 1.0)
  dof = np.maximum(n - 2, 1)
  with np.errstate(divide="ignore", invalid="ignore"):
    t = r * np.sqrt(dof / np.maximum(1.0 - r * r, 1e-300))
  p = np.where(good, 2.0 * scipy.stats.t.sf(np.abs(t), dof), np.nan)
  return r, p, n


@dataclasses.dataclass(frozen=True)
class SplitHalfResult:
  """Per-split results of :func:`split_half_analysis` (S splits, C cells) and
  medians.

  Half B has floor(n/2) trials of each (cell, size) and gives ``reversal_b``;
  half A (the rest) gives ``reversal_a`` and ``tau_a`` (asymmetry around
  ``reversal_a``).
  """

  reversal_a: np.ndarray  # (S, C)
  reversal_b: np.ndarray  # (S, C)
  tau_a: np.ndarray  # (S, C)
  reliability_r: np.ndarray  # (S,) Pearson r(reversal_a, reversal_b)
  reliability_p: np.ndarray  # (S,)
  asymmetry_reversal_r: np.ndarray  # (S,) Pearson r(tau_a, reversal_b)
  asymmetry_reversal_p: np.ndarray  # (S,)
  num_cells_asymmetry: np.ndarray  # (S,) cells with a finite tau_a

  @property
  def median_reliability_r(self) -> float:
    return float(np.nanmedian(self.reliability_r))

  @property
  def median_reliability_p(self) -> float:
    return float(np.nanmedian(self.reliability_p))

  @property
  def median_asymmetry_reversal_r(self) -> float:
    return float(np.nanmedian(self.asymmetry_reversal_r))

  @property
  def median_asymmetry_reversal_p(self) -> float:
    return float(np.nanmedian(self.asymmetry_reversal_p))


def _random_half_masks(
    valid: np.ndarray, num_splits: int, rng: np.random.Generator
) -> np.ndarray:
  """(S, C, L, T) bool: floor(n/2) of the valid trials of every (cell, level),
  uniformly."""
  keys = rng.random((num_splits,) + valid.shape)
  keys = np.where(valid, keys, 2.0)  # invalid trials sort last
  k = valid.sum(axis=-1) // 2  # (C, L)
  sorted_keys = np.sort(keys, axis=-1)
  idx = np.broadcast_to(
      np.maximum(k - 1, 0)[None, ..., None], (num_splits,) + k.shape + (1,)
  )
  threshold = np.take_along_axis(sorted_keys, idx, axis=-1)
  return (keys <= threshold) & (k > 0)[None, ..., None]


def split_half_analysis(
    responses: np.ndarray,
    utilities: np.ndarray,
    num_splits: int = 1000,
    seed: int | np.random.Generator = 0,
    method: str = "interpolate",
    chunk_size: int = 100,
    edge_insets: tuple[float, float] = (0.0, 0.0),
) -> SplitHalfResult:
  """Split-half reliability of reversal points and asymmetry-vs-reversal
  correlation.

  For each split, every (cell, reward size)'s valid trials are divided uniformly
  at random into half B (floor(n/2) trials) and half A (the rest), as in the
  paper's ``splitIndices``.  Reversal points r_A, r_B come from
  :func:`reversal_point`'s estimator on each half; tau_A is the asymmetry fitted
  on half A around r_A. Pearson r (and its two-sided p, t test with n - 2 dof)
  across cells is computed for (r_A, r_B) and for (tau_A, r_B), dropping cells
  with a non-finite value.

  All estimators are functions of per-(cell, size) sufficient statistics (counts
  of positive / negative responses, sums and sums of squares), so a split costs
  one random mask and one contraction; 1000 splits of 40 cells take about a
  second.

  Args:
    responses: (C, L, T) NaN-padded responses.
    utilities: (L,) ascending utility axis (or (C, L), ascending per row).
    num_splits: number of random splits.
    seed: int seed or numpy Generator.
    method: reversal-point method, see :func:`reversal_point`.
    chunk_size: splits processed at once (memory ~ chunk * C * L * T * 8 bytes).
    edge_insets: see PAPER_EDGE_INSETS.  With the default (0, 0) a cell whose
      reversal point lies at the top level (all responses negative, e.g. cell 19
      of the recordings) has no level above it, so its tau is NaN and it is left
      out of the tau-vs-reversal correlation.  The paper's caps put it 0.1 below
      the top level, where beta+ rests on one level 0.1 away (tau ~ 1.02 there),
      and the cell enters the correlation.
  """
  responses = np.asarray(responses, dtype=np.float64)
  utilities = np.asarray(utilities, dtype=np.float64)
  if np.any(np.diff(utilities, axis=-1) <= 0):
    raise ValueError(
        "split_half_analysis needs utilities strictly ascending along the last "
        "axis"
    )
  rng = (
      seed
      if isinstance(seed, np.random.Generator)
      else np.random.default_rng(seed)
  )
  valid = np.isfinite(responses)
  features = cells.trial_features(responses)  # (C, L, T, 5)
  total = features.sum(axis=-2)  # (C, L, 5)
  rev_a, rev_b, tau_a = [], [], []
  done = 0
  while done < num_splits:
    s = min(chunk_size, num_splits - done)
    mask_b = _random_half_masks(valid, s, rng).astype(np.float64)
    stats_b = np.einsum("sclt,cltf->sclf", mask_b, features, optimize=True)
    stats_a = total[None] - stats_b
    r_a = cells.reversal_from_sign_counts(
        stats_a[..., cells.N_POSITIVE],
        stats_a[..., cells.N_NEGATIVE],
        utilities,
        method,
        edge_insets,
    )
    r_b = cells.reversal_from_sign_counts(
        stats_b[..., cells.N_POSITIVE],
        stats_b[..., cells.N_NEGATIVE],
        utilities,
        method,
        edge_insets,
    )
    rev_a.append(r_a)
    rev_b.append(r_b)
    tau_a.append(cells.asymmetry_from_statistics(stats_a, utilities, r_a).tau)
    done += s
  rev_a, rev_b, tau_a = (
      np.concatenate(v, axis=0) for v in (rev_a, rev_b, tau_a)
  )
  rel_r, rel_p, _ = pearson_with_pvalue(rev_a, rev_b)
  asym_r, asym_p, n_asym = pearson_with_pvalue(tau_a, rev_b)
  return SplitHalfResult(
      rev_a, rev_b, tau_a, rel_r, rel_p, asym_r, asym_p, n_asym
  )


# ---------------------------------------------------------------------------
# 6. Exact expectiles and quantiles of discrete distributions
# ---------------------------------------------------------------------------


def expectiles_of_distribution(
    values: distributional.ArrayLike,
    probs: distributional.ArrayLike | None,
    taus: distributional.ArrayLike,
) -> np.ndarray:
  """Exact tau-expectiles of a discrete distribution (vectorised over taus).

  The tau-expectile e solves tau E[(Z - e)_+] = (1 - tau) E[(e - Z)_+].  Between
  two consecutive support points the equation is linear in e, so with P_lo, A_lo
  the probability and first moment at or below e (P_hi, A_hi above),
  ``e = (tau A_hi + (1 - tau) A_lo) / (tau P_hi + (1 - tau) P_lo)``; the right
  interval is found from the sign of the (decreasing) condition at the support
  points.  tau = 0 / 1 give the minimum / maximum of the support.
  ``probs=None`` means equal weights (the sample expectiles of ``values``).
  """
  v, p = distributional.discrete_distribution(values, probs)
  taus_arr = np.asarray(taus, dtype=np.float64)
  t = taus_arr.ravel()[:, None]  # (T, 1)
  if np.any((t < 0) | (t > 1)):
    raise ValueError("taus must lie in [0, 1]")
  cum_p = np.cumsum(p)  # P(Z <= v_k)
  cum_a = np.cumsum(p * v)  # E[Z 1{Z <= v_k}]
  total_a = cum_a[-1]
  # Condition at e = v_k: tau E[(Z - e)_+] - (1 - tau) E[(e - Z)_+], decreasing
  # in e.
  above = (total_a - cum_a) - v * (1.0 - cum_p)
  below = v * cum_p - cum_a
  h = t * above[None, :] - (1 - t) * below[None, :]  # (T, K)
  k = np.clip(
      (h >= 0).sum(axis=1) - 1, 0, v.size - 1
  )  # last support point with h >= 0
  p_lo, a_lo = cum_p[k], cum_a[k]
  p_hi, a_hi = 1.0 - p_lo, total_a - a_lo
  tt = t[:, 0]
  num = tt * a_hi + (1 - tt) * a_lo
  den = tt * p_hi + (1 - tt) * p_lo
  e = np.where(den > 0, num / np.where(den > 0, den, 1.0), v[k])
  upper = v[np.minimum(k + 1, v.size - 1)]
  e = np.clip(e, v[k], upper)
  e = np.where(tt <= 0, v[0], np.where(tt >= 1, v[-1], e))
  return e.reshape(taus_arr.shape)


def quantiles_of_distribution(
    values: distributional.ArrayLike,
    probs: distributional.ArrayLike | None,
    taus: distributional.ArrayLike,
) -> np.ndarray:
  """tau-quantiles (generalised inverse CDF, inf{z : F(z) >= tau}) of a discrete
  distribution."""
  v, p = distributional.discrete_distribution(values, probs)
  taus_arr = np.asarray(taus, dtype=np.float64)
  cdf = np.cumsum(p)
  idx = np.searchsorted(cdf, taus_arr.ravel() - 1e-12, side="left")
  return v[np.clip(idx, 0, v.size - 1)].reshape(taus_arr.shape)


# ---------------------------------------------------------------------------
# 7-8. Distances and baselines
# ---------------------------------------------------------------------------


def baseline_distributions(
    values: distributional.ArrayLike,
    probs: distributional.ArrayLike | None,
    num_points: int = 2000,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """The paper's comparison distributions for a decoded reward distribution.

  - "gaussian": normal with the true mean and standard deviation (not truncated,
    so it puts mass below 0 microlitres for the task's distribution),
    represented by its quantiles at (k + 0.5) / num_points, equally weighted;
  - "uniform": uniform on [min, max] of the true support, represented the same
    way (num_points equally spaced midpoints);
  - "point_mass": all mass at the true mean.

  Returns {name: (values, weights)}.  These discrete versions are for plotting;
  the distances (:func:`baseline_wasserstein_distances`) use the continuous ones
  exactly.
  """
  v, p = distributional.discrete_distribution(values, probs)
  mean = float(np.sum(p * v))
  std = float(np.sqrt(np.sum(p * (v - mean) ** 2)))
  levels = (np.arange(num_points) + 0.5) / num_points
  equal = np.full(num_points, 1.0 / num_points)
  return {
      "gaussian": (
          scipy.stats.norm.ppf(levels, loc=mean, scale=std)
          if std > 0
          else np.full(num_points, mean),
          equal,
      ),
      "uniform": (v[0] + (v[-1] - v[0]) * levels, equal),
      "point_mass": (np.array([mean]), np.array([1.0])),
  }


def _w1_continuous_to_discrete(
    dist: scipy.stats.rv_continuous, values: np.ndarray, probs: np.ndarray
) -> float:
  """W1 = integral of |G(x) - F(x)| between a continuous CDF G and a discrete
  CDF F.

  Integrated piece by piece between the atoms and the points where G crosses F's
  levels, so the integrand is smooth on each piece (quad to ~1e-12); the range
  is the atoms and the continuous distribution's support out to 1e-15 tail mass.
  """
  cum = np.cumsum(probs)
  lo = min(float(dist.ppf(1e-15)), float(values[0]))
  hi = max(float(dist.isf(1e-15)), float(values[-1]))
  crossings = dist.ppf(cum[cum < 1.0])
  edges = np.unique(
      np.clip(
          np.concatenate([[lo, hi], values, crossings[np.isfinite(crossings)]]),
          lo,
          hi,
      )
  )
  total = 0.0
  for a, b in zip(edges[:-1], edges[1:]):
    level = float(np.sum(probs[values <= 0.5 * (a + b)]))
    total += scipy.integrate.quad(
        lambda x, c=level: abs(float(dist.cdf(x)) - c), a, b, limit=200
    )[0]
  return total


def baseline_wasserstein_distances(
    values: distributional.ArrayLike, probs: distributional.ArrayLike | None
) -> dict[str, float]:
  """W1 from each of :func:`baseline_distributions` to the true distribution.

  The Gaussian and the uniform are taken as the continuous distributions (not
  their ``num_points`` quantiles): W1 = integral |G - F| dx, computed to ~1e-12.
  """
  v, p = distributional.discrete_distribution(values, probs)
  mean = float(np.sum(p * v))
  std = float(np.sqrt(np.sum(p * (v - mean) ** 2)))
  gaussian = scipy.stats.norm(mean, std) if std > 0 else None
  return {
      "gaussian": _w1_continuous_to_discrete(gaussian, v, p)
      if gaussian
      else distributional.wasserstein1([mean], None, v, p),
      "uniform": _w1_continuous_to_discrete(
          scipy.stats.uniform(v[0], v[-1] - v[0]), v, p
      )
      if v[-1] > v[0]
      else 0.0,
      "point_mass": distributional.wasserstein1([mean], None, v, p),
  }
