"""The real-data pipeline of Dabney et al. 2020: read the recordings
(``variable_magnitude.npz``) and run every step of the paper's
variable-magnitude analysis on them (item 10 of the package docstring).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import numpy as np

from agents.analysis.dopamine import cells as cell_estimates
from agents.analysis.dopamine import decoding
from agents.analysis.dopamine import statistics
from agents.lib import distributional

# The variable-magnitude task (Dabney et al. 2020; trial frequencies of the
# recordings).
TRUE_MAGNITUDES_UL = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])
TRUE_PROBABILITIES = np.array(
    [0.0661, 0.0909, 0.1485, 0.1549, 0.3116, 0.1510, 0.0771]
)

# ---------------------------------------------------------------------------
# 10. The real-data pipeline
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DopamineAnalysis:
  """Results of :func:`analyse_recordings`.

  cells: per-cell columns (each an array of length C); see
  :func:`analyse_recordings`. summary: scalar results (JSON-friendly floats and
  ints). split_half: the per-split arrays.
  decoded_samples: the imputed reward samples (microlitres), sorted.
  true_values, true_probs: the task's reward distribution.
  baselines: {name: (values, weights)} comparison distributions.
  extra_decodings: {variant: sorted samples (microlitres)} of the other
  decodings
    computed (e.g. "all_cells", "finite_cells", "unbounded", "stored_axis").
  split_halves: {variant: split halves} besides ``split_half``:
    "without_end_cells" (the headline: cells with a reversal point inside the
    reward range, paper's caps; their indices in ``cells_inside_range``) and,
    with ``paper_variants``, "paper_caps" (all cells, paper's caps).
  cells_inside_range: indices of the cells in "without_end_cells".
  utility_axis: the population utility axis the estimates use.
  """

  cells: dict[str, np.ndarray]
  summary: dict[str, float | int | str]
  split_half: statistics.SplitHalfResult
  decoded_samples: np.ndarray
  true_values: np.ndarray
  true_probs: np.ndarray
  baselines: dict[str, tuple[np.ndarray, np.ndarray]]
  extra_decodings: dict[str, np.ndarray] = dataclasses.field(
      default_factory=dict
  )
  split_halves: dict[str, statistics.SplitHalfResult] = dataclasses.field(
      default_factory=dict
  )
  cells_inside_range: np.ndarray = dataclasses.field(
      default_factory=lambda: np.zeros(0, int)
  )
  utility_axis: np.ndarray | None = None

  def cell_rows(self) -> list[dict[str, float | int | bool]]:
    """The per-cell table as a list of row dicts (e.g. for csv.DictWriter)."""
    names = list(self.cells)
    return [
        {k: self.cells[k][i].item() for k in names}
        for i in range(len(self.cells[names[0]]))
    ]


def analyse_recordings(
    path: str | Path,
    num_splits: int = 1000,
    seed: int = 0,
    num_samples: int = 100,
    num_restarts: int = 10,
    num_candidates: int = 1000,
    steps: int = 2000,
    reversal_method: str = "interpolate",
    probabilities: distributional.ArrayLike | None = None,
    paper_variants: bool = True,
    decode_all_cells: bool = False,
    num_folds: int = 7,
) -> DopamineAnalysis:
  """Run the paper's variable-magnitude analysis on ``variable_magnitude.npz``.

  Steps (which utility axis where: see the module docstring):
    1. per cell, all trials, population utility axis: reversal point (utility
       and, through :func:`utility_to_microlitres` on the population axis,
       microlitres), asymmetry tau with delta-method SE and both slopes; and
       the paper's error bars, the SEM over ``num_folds`` disjoint folds of
       the trials (:func:`fold_estimates`; columns ``*_sem_7fold``, summary
       ``tau_sem_7fold_over_delta_se_median``; ``*_fixed_reversal``: each
       fold's tau fitted around the all-trial reversal point);
    2. cross-check against the file's per-cell axis: the stored reversal point
       ``utility_axis - utility_axis_per_cell`` and the asymmetry fitted on the
       per-cell axis around 0 (columns ``*_stored``);
    3. split halves (``num_splits`` splits, seed ``seed``): per-split Pearson r
       and p, their medians and the fraction of splits with p < 0.05; on
       every cell (``split_half_*``), and on the cells whose all-trial
       reversal point lies inside the reward range with the paper's caps
       (``*_without_end_cells``, ``split_halves["without_end_cells"]``):
       cell 19, negative at every size, has none, and the paper's Figure 5
       data leave it out (NaN);
    4. decoding: each cell's (tau, reversal point in microlitres) read as a
       tau-expectile of the reward distribution and samples imputed by the
       paper's procedure (:func:`decode_reward_distribution`: ``num_restarts``
       runs of ``num_samples`` samples, each from the best of ``num_candidates``
       random initial sets and ``steps`` projected-Adam steps, pooled),
       constrained to the range of the task's rewards [0.1, 20] microlitres as
       in the paper's main-text decoding (its Extended Data Fig. 8a-c shows the
       unconstrained decoding as a control; reported here as ``*_unbounded``).
       W1 in microlitres (exact, samples vs the 7 atoms) to the true
       distribution, next to the Gaussian with the true mean and standard
       deviation, the uniform on [0.1, 20] and the point mass at the mean
       (:func:`baseline_wasserstein_distances`, exact for the continuous ones).

  Which cells are decoded.  By default (``decode_all_cells=False``) the cells
  with a finite tau in [0, 1] on the uncapped estimates: 39 of the 40 (cell 19,
  negative at every size, has its reversal point on the top level and no beta+).
  With ``decode_all_cells=True`` every cell enters, as in the paper: reversal
  points and taus with the paper's end caps (PAPER_EDGE_INSETS, columns
  ``*_capped``) and taus clipped to [0, 1] as the paper's decoding code does
  (DECODING_TAU_CLIP = 0). Why this is the paper's choice: the (reversal point
  in microlitres, tau) pairs that the paper's published decoding code ships for
  these 40 cells include the all-negative cell at the top reward (20 ul, tau
  0.96), i.e. all 40 cells were decoded.  ``decoded_samples`` and
  ``w1_decoded_ul`` follow the choice; the other one is in ``extra_decodings``
  and (with ``paper_variants``) the summary as ``w1_decoded_all_cells_ul`` /
  ``w1_decoded_finite_cells_ul``.

  With ``paper_variants`` the summary also holds the split-half medians with the
  paper's end caps (PAPER_EDGE_INSETS), the other set of decoded cells, the
  unconstrained decoding and the decoding from the stored per-cell axis; they
  cost another split-half pass and three more imputations.

  The numbers this gives on the recordings, and how they move with the
  imputation's settings, are the reproduction's summary.json (`python -m
  scripts.reproduce_dabney2020 --workdir=DIR`). How the imputation is run
  matters, because noisy (tau, reversal point) pairs are not the expectiles
  of any one distribution: the loss cannot reach 0 and many sample sets come
  close to its floor, so the decoded distribution depends on which of them
  the runs end at; pooling the runs and projecting onto the bounds (like the
  paper's box-constrained TNC) is what makes the result stable in the steps.

  Per-cell columns (``cells``): cell, num_trials, reversal_utility, reversal_ul,
  tau, tau_se, beta_plus, beta_minus, beta_plus_se, beta_minus_se,
  reversal_utility_capped, reversal_ul_capped, tau_capped (the paper's end
  caps), reversal_inside_range, tau_sem_7fold, reversal_utility_sem_7fold,
  tau_sem_7fold_fixed_reversal, used_in_decoding, and if the file has ``utility_axis_per_cell``:
  reversal_utility_stored, reversal_ul_stored, tau_stored_axis.
  """
  data = np.load(Path(path))
  responses = np.asarray(data["responses"], dtype=np.float64)
  axis = np.asarray(data["utility_axis"], dtype=np.float64)
  magnitudes = np.asarray(data["magnitudes_ul"], dtype=np.float64)
  probs = (
      TRUE_PROBABILITIES
      if probabilities is None
      else np.asarray(probabilities, dtype=np.float64)
  )
  probs = probs / probs.sum()
  num_cells = responses.shape[0]

  # 1. All-trial estimates on the population axis.
  stats = cell_estimates.trial_statistics(responses)
  reversal_u = cell_estimates.reversal_from_sign_counts(
      stats[..., cell_estimates.N_POSITIVE],
      stats[..., cell_estimates.N_NEGATIVE],
      axis,
      reversal_method,
  )
  reversal_ul = decoding.utility_to_microlitres(reversal_u, axis, magnitudes)
  asym = cell_estimates.asymmetry_from_statistics(stats, axis, reversal_u)
  # The paper's end caps: every cell gets a reversal point inside the axis and a
  # tau.
  reversal_u_capped = cell_estimates.reversal_from_sign_counts(
      stats[..., cell_estimates.N_POSITIVE],
      stats[..., cell_estimates.N_NEGATIVE],
      axis,
      reversal_method,
      cell_estimates.PAPER_EDGE_INSETS,
  )
  tau_capped = cell_estimates.asymmetry_from_statistics(
      stats, axis, reversal_u_capped
  ).tau
  cells: dict[str, np.ndarray] = {
      "cell": np.arange(num_cells),
      "num_trials": stats[..., cell_estimates.N_VALID].sum(axis=-1).astype(int),
      "reversal_utility": reversal_u,
      "reversal_ul": reversal_ul,
      "tau": asym.tau,
      "tau_se": asym.tau_se,
      "beta_plus": asym.beta_plus,
      "beta_minus": asym.beta_minus,
      "beta_plus_se": asym.beta_plus_se,
      "beta_minus_se": asym.beta_minus_se,
      "reversal_utility_capped": reversal_u_capped,
      "reversal_ul_capped": decoding.utility_to_microlitres(
          reversal_u_capped, axis, magnitudes
      ),
      "tau_capped": tau_capped,
      "reversal_inside_range": (reversal_u > axis.min())
      & (reversal_u < axis.max()),
  }
  folds = cell_estimates.fold_estimates(
      responses, axis, num_folds, seed, reversal_method
  )
  cells["tau_sem_7fold"] = folds.tau_sem
  cells["reversal_utility_sem_7fold"] = folds.reversal_sem
  cells["tau_sem_7fold_fixed_reversal"] = cell_estimates.fold_estimates(
      responses, axis, num_folds, seed, reversal_method, reversal=reversal_u
  ).tau_sem
  summary: dict[str, float | int | str] = {
      "num_cells": int(num_cells),
      "num_trials": int(stats[..., cell_estimates.N_VALID].sum()),
      "reversal_method": reversal_method,
      "mean_tau": float(np.nanmean(asym.tau)),
      "num_cells_with_tau": int(np.isfinite(asym.tau).sum()),
      "r_tau_vs_reversal_all_trials": float(
          statistics.pearson_with_pvalue(asym.tau, reversal_u)[0]
      ),
      "num_folds": int(num_folds),
  }
  both = np.isfinite(folds.tau_sem) & np.isfinite(asym.tau_se)
  ratio = folds.tau_sem[both] / asym.tau_se[both]
  summary.update(
      tau_sem_7fold_median=float(np.median(folds.tau_sem[both])),
      tau_delta_se_median=float(np.median(asym.tau_se[both])),
      tau_sem_7fold_over_delta_se_median=float(np.median(ratio)),
      tau_sem_7fold_over_delta_se_mean=float(np.mean(ratio)),
      num_cells_with_both_se=int(both.sum()),
  )
  fixed = cells["tau_sem_7fold_fixed_reversal"]
  both_fixed = np.isfinite(fixed) & np.isfinite(asym.tau_se)
  summary["tau_sem_7fold_fixed_reversal_over_delta_se_median"] = float(
      np.median(fixed[both_fixed] / asym.tau_se[both_fixed])
  )

  # 2. Cross-check against the stored per-cell axis.
  per_cell_axis = None
  if "utility_axis_per_cell" in data.files:
    per_cell_axis = np.asarray(data["utility_axis_per_cell"], dtype=np.float64)
    stored_reversal = (axis[None, :] - per_cell_axis).mean(axis=1)
    cells["reversal_utility_stored"] = stored_reversal
    cells["reversal_ul_stored"] = decoding.utility_to_microlitres(
        stored_reversal, axis, magnitudes
    )
    cells["tau_stored_axis"] = cell_estimates.asymmetry_from_statistics(
        stats, per_cell_axis, np.zeros(num_cells)
    ).tau
    summary["r_reversal_vs_stored"] = float(
        statistics.pearson_with_pvalue(reversal_u, stored_reversal)[0]
    )
    summary["r_tau_vs_tau_stored_axis"] = float(
        statistics.pearson_with_pvalue(asym.tau, cells["tau_stored_axis"])[0]
    )

  # 3. Split halves.
  split = statistics.split_half_analysis(
      responses, axis, num_splits=num_splits, seed=seed, method=reversal_method
  )
  summary.update(
      num_splits=int(num_splits),
      split_half_reversal_r_median=split.median_reliability_r,
      split_half_reversal_p_median=split.median_reliability_p,
      split_half_reversal_fraction_p_below_0_05=float(
          np.mean(split.reliability_p < 0.05)
      ),
      asymmetry_vs_reversal_r_median=split.median_asymmetry_reversal_r,
      asymmetry_vs_reversal_p_median=split.median_asymmetry_reversal_p,
      asymmetry_vs_reversal_fraction_p_below_0_05=float(
          np.mean(split.asymmetry_reversal_p < 0.05)
      ),
      asymmetry_vs_reversal_num_cells_median=float(
          np.median(split.num_cells_asymmetry)
      ),
  )
  inside = np.flatnonzero(cells["reversal_inside_range"])
  headline = statistics.split_half_analysis(
      responses[inside],
      axis,
      num_splits=num_splits,
      seed=seed,
      method=reversal_method,
      edge_insets=cell_estimates.PAPER_EDGE_INSETS,
  )
  split_halves = {"without_end_cells": headline}
  summary.update(
      excluded_cells=",".join(
          str(i) for i in np.flatnonzero(~cells["reversal_inside_range"])
      ),
      num_cells_without_end_cells=int(inside.size),
      split_half_reversal_r_median_without_end_cells=(
          headline.median_reliability_r
      ),
      split_half_reversal_p_median_without_end_cells=(
          headline.median_reliability_p
      ),
      asymmetry_vs_reversal_r_median_without_end_cells=(
          headline.median_asymmetry_reversal_r
      ),
      asymmetry_vs_reversal_p_median_without_end_cells=(
          headline.median_asymmetry_reversal_p
      ),
      asymmetry_vs_reversal_fraction_p_below_0_05_without_end_cells=float(
          np.mean(headline.asymmetry_reversal_p < 0.05)
      ),
  )
  if paper_variants:
    capped = statistics.split_half_analysis(
        responses,
        axis,
        num_splits=num_splits,
        seed=seed,
        method=reversal_method,
        edge_insets=cell_estimates.PAPER_EDGE_INSETS,
    )
    summary["split_half_reversal_r_median_paper_caps"] = (
        capped.median_reliability_r
    )
    summary["split_half_reversal_p_median_paper_caps"] = (
        capped.median_reliability_p
    )
    summary["asymmetry_vs_reversal_r_median_paper_caps"] = (
        capped.median_asymmetry_reversal_r
    )
    summary["asymmetry_vs_reversal_p_median_paper_caps"] = (
        capped.median_asymmetry_reversal_p
    )
    split_halves["paper_caps"] = capped

  # 4. Decoding.
  key = jax.random.key(seed)
  reward_range = (float(magnitudes.min()), float(magnitudes.max()))
  decode = functools.partial(
      decoding.decode_reward_distribution,
      num_samples=num_samples,
      key=key,
      num_restarts=num_restarts,
      num_candidates=num_candidates,
      steps=steps,
  )
  decodings = {
      "finite_cells": dict(
          taus=asym.tau, reversals_ul=reversal_ul, bounds=reward_range
      ),
      "all_cells": dict(
          taus=tau_capped,
          reversals_ul=cells["reversal_ul_capped"],
          bounds=reward_range,
          tau_clip=decoding.DECODING_TAU_CLIP,
      ),
  }
  main, other = (
      ("all_cells", "finite_cells")
      if decode_all_cells
      else ("finite_cells", "all_cells")
  )
  imputed, used = decode(**decodings[main])
  cells["used_in_decoding"] = used
  extra_decodings: dict[str, np.ndarray] = {}
  baselines = statistics.baseline_distributions(magnitudes, probs)
  w1_baselines = statistics.baseline_wasserstein_distances(magnitudes, probs)
  true_mean = float(np.sum(probs * magnitudes))
  summary.update(
      decoded_cells=main,
      num_cells_decoded=int(used.sum()),
      decoding_bounds_ul=f"[{reward_range[0]}, {reward_range[1]}]",
      imputation_loss=imputed.loss,
      w1_decoded_ul=distributional.wasserstein1(
          imputed.samples, None, magnitudes, probs
      ),
      w1_gaussian_ul=w1_baselines["gaussian"],
      w1_uniform_ul=w1_baselines["uniform"],
      w1_point_mass_ul=w1_baselines["point_mass"],
      decoded_mean_ul=float(imputed.samples.mean()),
      decoded_std_ul=float(imputed.samples.std()),
      true_mean_ul=true_mean,
      true_std_ul=float(np.sqrt(np.sum(probs * (magnitudes - true_mean) ** 2))),
  )
  if paper_variants:
    alternative, used_alternative = decode(**decodings[other])
    extra_decodings[other] = alternative.samples
    summary[f"w1_decoded_{main}_ul"] = summary["w1_decoded_ul"]
    summary[f"w1_decoded_{other}_ul"] = distributional.wasserstein1(
        alternative.samples, None, magnitudes, probs
    )
    summary[f"num_cells_decoded_{other}"] = int(used_alternative.sum())
    unbounded, _ = decode(asym.tau, reversal_ul, bounds=None)
    extra_decodings["unbounded"] = unbounded.samples
    summary["w1_decoded_unbounded_ul"] = distributional.wasserstein1(
        unbounded.samples, None, magnitudes, probs
    )
    if per_cell_axis is not None:
      stored, used_stored = decode(
          cells["tau_stored_axis"],
          cells["reversal_ul_stored"],
          bounds=reward_range,
      )
      extra_decodings["stored_axis"] = stored.samples
      summary["num_cells_decoded_stored_axis"] = int(used_stored.sum())
      summary["w1_decoded_stored_axis_ul"] = distributional.wasserstein1(
          stored.samples, None, magnitudes, probs
      )
  return DopamineAnalysis(
      cells,
      summary,
      split,
      imputed.samples,
      magnitudes,
      probs,
      baselines,
      extra_decodings=extra_decodings,
      split_halves=split_halves,
      cells_inside_range=inside,
      utility_axis=axis,
  )
