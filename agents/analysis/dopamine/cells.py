"""Per-cell estimates of Dabney et al. 2020: reversal points, asymmetries,
and the variable-probability task's optimistic / pessimistic units.

Everything is a function of per-(cell, level) sufficient statistics of the
trial responses (`trial_statistics`), which makes split halves
(`agents.analysis.dopamine.statistics`) cheap. The methods and where the
paper's code was followed: the package docstring (items 1, 2 and 9).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.stats

from agents.lib import distributional

_REVERSAL_METHODS = ("interpolate", "midpoint")

# The paper's code caps a reversal point that falls on the lowest (highest)
# level at u_min + 0.01 (u_max - 0.1). Our default leaves it on the level; pass
# these insets as ``edge_insets`` to reproduce the paper's numbers (see
# statistics.split_half_analysis).
PAPER_EDGE_INSETS = (0.01, 0.1)

# ---------------------------------------------------------------------------
# Sufficient statistics of trial responses
# ---------------------------------------------------------------------------

# Per (cell, level): number of valid trials, of positive and of negative
# responses, sum and sum of squares of the responses.  Everything below
# (reversal points, slopes, their errors) is a function of these, which makes
# split halves cheap.
N_VALID, N_POSITIVE, N_NEGATIVE, SUM, SUM_OF_SQUARES = range(5)


def trial_features(responses: np.ndarray) -> np.ndarray:
  """(..., T) responses with NaN padding -> (..., T, 5) per-trial features."""
  y = np.asarray(responses, dtype=np.float64)
  valid = np.isfinite(y)
  y0 = np.where(valid, y, 0.0)
  return np.stack(
      [
          valid.astype(np.float64),
          (y0 > 0).astype(np.float64),
          (y0 < 0).astype(np.float64),
          y0,
          y0 * y0,
      ],
      axis=-1,
  )


def trial_statistics(responses: np.ndarray) -> np.ndarray:
  """(..., L, T) responses -> (..., L, 5) sufficient statistics over trials."""
  return trial_features(responses).sum(axis=-2)


# ---------------------------------------------------------------------------
# 1. Reversal points
# ---------------------------------------------------------------------------


def _sign_agreement_counts(
    num_pos: np.ndarray, num_neg: np.ndarray
) -> np.ndarray:
  """Agreement count of each gap. num_pos, num_neg: (..., L) -> (..., L + 1).

  Gap k (k = 0..L) lies below level k: count_k = sum_{j >= k} num_pos_j + sum_{j
  < k} num_neg_j.
  """
  zeros = np.zeros(num_pos.shape[:-1] + (1,))
  pos_above = np.concatenate(
      [np.cumsum(num_pos[..., ::-1], axis=-1)[..., ::-1], zeros], axis=-1
  )
  neg_below = np.concatenate([zeros, np.cumsum(num_neg, axis=-1)], axis=-1)
  return pos_above + neg_below


def reversal_from_sign_counts(
    num_pos: np.ndarray,
    num_neg: np.ndarray,
    utilities: np.ndarray,
    method: str = "interpolate",
    edge_insets: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
  """Vectorised sign-agreement reversal point (see the module docstring).

  Args:
    num_pos, num_neg: (..., L) counts of positive / negative responses per
      level.
    utilities: (L,) or (..., L) level positions, ascending along the last axis.
    method: "interpolate" (the paper's) or "midpoint".
    edge_insets: (low, high); a reversal point on the lowest (highest) level is
      moved to u_min + low (u_max - high).  (0, 0) by default; PAPER_EDGE_INSETS
      reproduces the paper's caps.

  Returns:
    (...) reversal points; NaN where a cell has no signed response at all.
  """
  if method not in _REVERSAL_METHODS:
    raise ValueError(
        f"method must be one of {_REVERSAL_METHODS}, got {method!r}"
    )
  num_pos = np.asarray(num_pos, dtype=np.float64)
  num_neg = np.asarray(num_neg, dtype=np.float64)
  u = np.broadcast_to(np.asarray(utilities, dtype=np.float64), num_pos.shape)
  counts = _sign_agreement_counts(num_pos, num_neg)
  tied = counts == counts.max(axis=-1, keepdims=True)
  lower = np.concatenate(
      [u[..., :1], u], axis=-1
  )  # lower end of gap k: u_{k-1}; gap 0 -> u_0
  upper = np.concatenate(
      [u, u[..., -1:]], axis=-1
  )  # upper end of gap k: u_k; gap L -> u_{L-1}
  if method == "midpoint":
    lo = np.where(tied, lower, np.inf).min(axis=-1)
    hi = np.where(tied, upper, -np.inf).max(axis=-1)
    result = 0.5 * (lo + hi)
  else:
    padded = np.concatenate(
        [counts[..., :1], counts, counts[..., -1:]], axis=-1
    )
    drop_lo = counts - padded[..., :-2]  # c_k - c_{k-1}: >= 0 at a maximum
    drop_hi = counts - padded[..., 2:]  # c_k - c_{k+1}
    total = drop_lo + drop_hi
    safe = np.where(total > 0, total, 1.0)
    point = np.where(
        total > 0,
        (drop_hi * lower + drop_lo * upper) / safe,
        0.5 * (lower + upper),
    )
    result = np.where(tied, point, 0.0).sum(axis=-1) / tied.sum(axis=-1)
  u_min, u_max = u[..., 0], u[..., -1]
  result = np.where(result <= u_min, u_min + edge_insets[0], result)
  result = np.where(result >= u_max, u_max - edge_insets[1], result)
  no_data = (num_pos.sum(axis=-1) + num_neg.sum(axis=-1)) == 0
  return np.where(no_data, np.nan, result)


def _sorted_levels(utilities: np.ndarray) -> np.ndarray:
  utilities = np.asarray(utilities, dtype=np.float64)
  if utilities.ndim != 1:
    raise ValueError(
        "utilities must be 1-D (one position per reward size), got "
        f"{utilities.shape}"
    )
  return np.argsort(utilities, kind="stable")


def reversal_point(
    responses: np.ndarray,
    utilities: distributional.ArrayLike,
    method: str = "interpolate",
    edge_insets: tuple[float, float] = (0.0, 0.0),
) -> float:
  """Model-free reversal point of one cell from the signs of its trial
  responses.

  Args:
    responses: (num_sizes, num_trials) responses, NaN-padded.
    utilities: (num_sizes,) utility-space position of each reward size (any
      order).
    method: "interpolate" (the paper's placement inside the winning gap) or
      "midpoint" (midpoint of the interval of maximal sign agreement).
    edge_insets: see PAPER_EDGE_INSETS; (0, 0) keeps an end reversal on the end
      level.

  Returns:
    The reversal point in utility units, within [min(utilities),
    max(utilities)]; NaN if the cell has no non-zero response.
  """
  utilities = np.asarray(utilities, dtype=np.float64)
  order = _sorted_levels(utilities)
  stats = trial_statistics(np.asarray(responses)[order])
  return float(
      reversal_from_sign_counts(
          stats[:, N_POSITIVE],
          stats[:, N_NEGATIVE],
          utilities[order],
          method,
          edge_insets,
      )
  )


def reversal_points(
    responses: np.ndarray,
    utilities: np.ndarray,
    method: str = "interpolate",
    edge_insets: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
  """Reversal points of many cells. responses: (C, L, T); utilities: (L,) or (C,
  L)."""
  responses = np.asarray(responses)
  utilities = np.broadcast_to(
      np.asarray(utilities, dtype=np.float64), responses.shape[:2]
  )
  return np.array(
      [
          reversal_point(r, u, method, edge_insets)
          for r, u in zip(responses, utilities)
      ]
  )


# ---------------------------------------------------------------------------
# 2. Asymmetry
# ---------------------------------------------------------------------------


class AsymmetryEstimate(NamedTuple):
  """tau = beta_plus / (beta_plus + beta_minus) with its delta-method standard
  error."""

  tau: float | np.ndarray
  tau_se: float | np.ndarray
  beta_plus: float | np.ndarray
  beta_minus: float | np.ndarray
  beta_plus_se: float | np.ndarray
  beta_minus_se: float | np.ndarray


def _through_origin_slope(
    stats: np.ndarray, x: np.ndarray, side: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
  """OLS slope through the origin of y on x over the levels in `side`, and its
  SE.

  stats: (..., L, 5); x: (..., L) regressor per level; side: (..., L) bool.
  Slope NaN when sum(x^2) == 0 (no data away from the reversal point on that
  side); SE NaN with fewer than two trials.
  """
  w = side.astype(np.float64)
  n = stats[..., N_VALID]
  sxx = (w * n * x * x).sum(axis=-1)
  sxy = (w * x * stats[..., SUM]).sum(axis=-1)
  syy = (w * stats[..., SUM_OF_SQUARES]).sum(axis=-1)
  m = (w * n).sum(axis=-1)
  ok = sxx > 0
  safe_sxx = np.where(ok, sxx, 1.0)
  beta = np.where(ok, sxy / safe_sxx, np.nan)
  rss = np.maximum(syy - np.where(ok, sxy * sxy / safe_sxx, 0.0), 0.0)
  var = np.where(ok & (m > 1), rss / np.maximum(m - 1, 1) / safe_sxx, np.nan)
  return beta, np.sqrt(var)


def asymmetry_from_statistics(
    stats: np.ndarray, utilities: np.ndarray, reversal: np.ndarray
) -> AsymmetryEstimate:
  """Vectorised asymmetry. stats (..., L, 5); utilities (L,) or (..., L);
  reversal (...)."""
  reversal = np.asarray(reversal, dtype=np.float64)
  x = np.asarray(utilities, dtype=np.float64) - reversal[..., None]
  x = np.broadcast_to(x, stats.shape[:-1])
  beta_p, se_p = _through_origin_slope(stats, x, x >= 0)
  beta_m, se_m = _through_origin_slope(stats, x, x <= 0)
  denom = beta_p + beta_m
  ok = np.isfinite(denom) & (denom != 0)
  safe = np.where(ok, denom, 1.0)
  tau = np.where(ok, beta_p / safe, np.nan)
  # Delta method: d tau / d beta+ = beta- / s^2, d tau / d beta- = -beta+ / s^2.
  tau_se = np.where(
      ok, np.sqrt((beta_m * se_p) ** 2 + (beta_p * se_m) ** 2) / safe**2, np.nan
  )
  return AsymmetryEstimate(tau, tau_se, beta_p, beta_m, se_p, se_m)


def asymmetry(
    responses: np.ndarray, utilities: distributional.ArrayLike, reversal: float
) -> AsymmetryEstimate:
  """Asymmetry tau = beta+ / (beta+ + beta-) of one cell around its reversal
  point.

  beta+ (beta-) is the through-origin least-squares slope of the trial responses
  against ``utility - reversal`` over all valid trials at reward sizes with
  ``utility >= reversal`` (``<= reversal``), as in the paper.  Degenerate cases
  give NaN explicitly: no size on one side other than at the reversal point
  itself (that slope is NaN, so tau is NaN), fewer than two trials on a side
  (its SE is NaN), or beta+ + beta- == 0.  Slopes may be negative for noisy
  cells, in which case tau can leave [0, 1]; it is returned as is.

  Args:
    responses: (num_sizes, num_trials) NaN-padded responses.
    utilities: (num_sizes,) utility of each reward size.
    reversal: the cell's reversal point in the same units.

  Returns:
    AsymmetryEstimate(tau, tau_se, beta_plus, beta_minus, beta_plus_se,
    beta_minus_se) as floats; ``tau_se`` is the delta-method standard error from
    the two slopes' OLS standard errors (the two fits use disjoint trials and
    are independent).
  """
  stats = trial_statistics(np.asarray(responses))
  est = asymmetry_from_statistics(
      stats, np.asarray(utilities, dtype=np.float64), np.asarray(reversal)
  )
  return AsymmetryEstimate(*(float(v) for v in est))


def asymmetries(
    responses: np.ndarray, utilities: np.ndarray, reversals: np.ndarray
) -> AsymmetryEstimate:
  """Asymmetries of many cells. responses (C, L, T); utilities (L,) or (C, L);
  reversals (C,)."""
  stats = trial_statistics(np.asarray(responses))
  return asymmetry_from_statistics(
      stats, np.asarray(utilities, dtype=np.float64), np.asarray(reversals)
  )


class FoldEstimates(NamedTuple):
  """Per-fold estimates of :func:`fold_estimates` and their SEM across folds.

  reversal, tau: (F, C) each fold's reversal point and asymmetry;
  reversal_sem, tau_sem: (C,) sd over the folds with a finite value (ddof 1)
  / sqrt(their number); NaN with fewer than two.
  """

  reversal: np.ndarray
  tau: np.ndarray
  reversal_sem: np.ndarray
  tau_sem: np.ndarray


def _sem_over_folds(x: np.ndarray) -> np.ndarray:
  finite = np.isfinite(x)
  n = finite.sum(axis=0)
  mean = np.where(finite, x, 0.0).sum(axis=0) / np.maximum(n, 1)
  var = (np.where(finite, x - mean, 0.0) ** 2).sum(axis=0) / np.maximum(
      n - 1, 1
  )
  return np.where(n >= 2, np.sqrt(var / np.maximum(n, 1)), np.nan)


def fold_estimates(
    responses: np.ndarray,
    utilities: np.ndarray,
    num_folds: int = 7,
    seed: int | np.random.Generator = 0,
    method: str = "interpolate",
    edge_insets: tuple[float, float] = PAPER_EDGE_INSETS,
    reversal: np.ndarray | None = None,
) -> FoldEstimates:
  """Reversal points and asymmetries on disjoint folds of the trials, and
  their SEM across folds (the paper's per-cell error bars).

  The paper's error bars on a cell's asymmetry and reversal point are the
  standard error of the mean over 7 disjoint folds of the cell's trials; the
  delta-method SE of :func:`asymmetry` is the analytic alternative.  Here the
  valid trials of every (cell, reward size) are shuffled and dealt in turn to
  ``num_folds`` folds (so each fold holds about 1/F of every size); on each
  fold the reversal point is estimated from the fold's trials (with the
  paper's end caps by default, so that a fold whose trials never change sign
  still gives a tau) and the asymmetry is fitted around it; or, given
  ``reversal``, around that fixed (e.g. all-trial) reversal point, so that
  the SEM reflects the slopes' noise only.  The SEM is the standard deviation
  over the folds (ddof 1) divided by sqrt(F).

  Args:
    responses: (C, L, T) NaN-padded responses.
    utilities: (L,) ascending utility axis (or (C, L)).
    num_folds: F, the number of folds (the paper's 7).
    seed: int seed or numpy Generator (which trials go to which fold).
    method: reversal-point method, see :func:`reversal_point`.
    edge_insets: see PAPER_EDGE_INSETS.
    reversal: None (re-estimate per fold) or (C,) reversal points to fit
      every fold's tau around (``FoldEstimates.reversal`` then repeats them).
  """
  if num_folds < 2:
    raise ValueError(f"num_folds must be >= 2, got {num_folds}")
  responses = np.asarray(responses, dtype=np.float64)
  utilities = np.asarray(utilities, dtype=np.float64)
  rng = (
      seed
      if isinstance(seed, np.random.Generator)
      else np.random.default_rng(seed)
  )
  valid = np.isfinite(responses)
  keys = np.where(valid, rng.random(valid.shape), 2.0)  # invalid sort last
  rank = np.argsort(np.argsort(keys, axis=-1), axis=-1)
  fold = np.where(valid, rank % num_folds, -1)  # (C, L, T)
  masks = (fold[None] == np.arange(num_folds)[:, None, None, None]).astype(
      np.float64
  )
  stats = np.einsum(
      "fclt,cltk->fclk", masks, trial_features(responses), optimize=True
  )
  if reversal is None:
    reversal = reversal_from_sign_counts(
        stats[..., N_POSITIVE],
        stats[..., N_NEGATIVE],
        utilities,
        method,
        edge_insets,
    )
  else:
    reversal = np.broadcast_to(
        np.asarray(reversal, dtype=np.float64), stats.shape[:2]
    )
  tau = asymmetry_from_statistics(stats, utilities, reversal).tau
  return FoldEstimates(
      reversal, tau, _sem_over_folds(reversal), _sem_over_folds(tau)
  )


# ---------------------------------------------------------------------------
# 9. Variable-probability task
# ---------------------------------------------------------------------------


class ProbabilityCueClassification(NamedTuple):
  """Per unit: label, contrast m50 - (m10 + m90) / 2, its Welch t statistic, dof
  and p."""

  labels: (
      np.ndarray
  )  # "optimistic" | "pessimistic" | "interpolating" | "undetermined"
  contrast: np.ndarray
  t: np.ndarray
  dof: np.ndarray
  p: np.ndarray


def classify_probability_cue_units(
    responses_50: np.ndarray,
    responses_10: np.ndarray,
    responses_90: np.ndarray,
    alpha: float = 0.05,
) -> ProbabilityCueClassification:
  """Optimistic / pessimistic / interpolating coding of the 50% cue, unit by
  unit.

  Distributional TD predicts that some units treat the 50% cue like the 90% cue
  (optimistic, tau > 0.5) and others like the 10% cue (pessimistic); classical
  TD predicts that every unit responds to it halfway.  For each unit the
  contrast ``c = mean(r50) - (mean(r10) + mean(r90)) / 2`` is tested against 0
  with a Welch t test over trials (SE^2 = s50^2/n50 + s10^2/(4 n10) + s90^2/(4
  n90), Welch-Satterthwaite degrees of freedom, two-sided).  The unit is
  "optimistic" if c > 0 with p < alpha, "pessimistic" if c < 0 with p < alpha,
  "interpolating" otherwise, and "undetermined" when a cue has fewer than two
  trials.  The labels assume units respond more to the 90% than to the 10% cue
  (as dopamine neurons do); the contrast is reported so that this can be
  checked.

  Args:
    responses_50, responses_10, responses_90: (num_units, num_trials) NaN-padded
      responses to each cue (trial counts may differ between cues), or 1-D for
      one unit.
    alpha: significance level.
  """
  groups = [
      np.atleast_2d(np.asarray(r, dtype=np.float64))
      for r in (responses_50, responses_10, responses_90)
  ]
  if len({g.shape[0] for g in groups}) != 1:
    raise ValueError("all cues need the same number of units")
  coefficients = (1.0, -0.5, -0.5)
  contrast = np.zeros(groups[0].shape[0])
  var_terms = []
  dof_terms = []
  enough = np.ones(groups[0].shape[0], dtype=bool)
  for a, g in zip(coefficients, groups):
    n = np.isfinite(g).sum(axis=1)
    enough &= n >= 2
    finite = np.isfinite(g)
    mean = np.where(finite, g, 0.0).sum(axis=1) / np.maximum(n, 1)
    var = (np.where(finite, g - mean[:, None], 0.0) ** 2).sum(
        axis=1
    ) / np.maximum(n - 1, 1)
    term = a * a * var / np.maximum(n, 1)
    contrast = contrast + a * mean
    var_terms.append(term)
    dof_terms.append(term**2 / np.maximum(n - 1, 1))
  se2 = np.sum(var_terms, axis=0)
  with np.errstate(invalid="ignore", divide="ignore"):
    t = contrast / np.sqrt(se2)
    dof = se2**2 / np.sum(dof_terms, axis=0)
  ok = enough & (se2 > 0)
  t = np.where(ok, t, np.nan)
  dof = np.where(ok, dof, np.nan)
  p = np.where(
      ok,
      2.0
      * scipy.stats.t.sf(np.abs(np.nan_to_num(t)), np.nan_to_num(dof, nan=1.0)),
      np.nan,
  )
  labels = np.where(
      ~ok,
      "undetermined",
      np.where(
          (p < alpha) & (contrast > 0),
          "optimistic",
          np.where(
              (p < alpha) & (contrast < 0), "pessimistic", "interpolating"
          ),
      ),
  )
  return ProbabilityCueClassification(labels, contrast, t, dof, p)
