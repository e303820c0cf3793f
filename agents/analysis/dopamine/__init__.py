"""Distributional code for value in dopamine neurons: the analysis of Dabney et
al. 2020.

References
----------
- W. Dabney, Z. Kurth-Nelson, N. Uchida, C. K. Starkweather, D. Hassabis, R.
  Munos, M. Botvinick, "A distributional code for value in dopamine-based
  reinforcement learning", Nature 577, 671-675 (2020).  [the paper;
  variable-magnitude task, Fig. 5; variable-probability task, Fig. 4]
- M. Rowland, R. Dadashi, S. Kumar, R. Munos, M. G. Bellemare, W. Dabney,
  "Statistics and samples in distributional reinforcement learning", ICML 2019.
  [expectile imputation, used by the paper to decode the reward distribution]

Modules (every public name is also importable from this package)
----------------------------------------------------------------
- ``cells``: per-cell estimates (items 1, 2, 9 below);
- ``statistics``: split halves, exact statistics of discrete distributions,
  baselines (items 3, 6, 8);
- ``decoding``: utility <-> microlitres and expectile imputation (items 4, 5);
- ``recordings``: the recordings and the real-data pipeline (item 10);
- ``nulls``: classical-TD null populations with the recordings' own noise,
  decoded like the real cells (item 11).
W1 (item 7) and the imputation objective are the shared ones of
``agents.lib.distributional``.

Each method of the paper and the function that implements it
-------------------------------------------------------------
Utility space.  The paper works in "utility space": reward size j is placed at
the population's mean response to it (``utility_axis`` in the data file).  The
trial responses of cell i at size j are compared against these positions.

1. Reversal point (model-free, from the signs of trial responses):
   :func:`reversal_point` (one cell), :func:`reversal_points` (many cells).
   Candidate reversal points lie in the gaps between consecutive reward levels
   (plus the two open ends).  For gap k the agreement count is
   ``#(response > 0 at levels above the gap) + #(response < 0 at levels below
   it)``; the gap with the largest count is chosen.  As in the paper's code
   (``EstimateZeroCrossings``), the point inside the chosen gap, between levels
   u_lo and u_hi, is placed by weighting each end by how little the count drops
   when the gap is moved past it: with d_lo = c_k - c_{k-1} and d_hi = c_k -
   c_{k+1}, ``r = (d_hi * u_lo + d_lo * u_hi) / (d_lo + d_hi)`` (a level whose
   trials are balanced in sign, d ~ 0, attracts the reversal point onto itself).
   A winning end gap (all trials positive, or all negative) gives the lowest /
   highest level itself (the paper capped at ``u_min + 0.01`` and ``u_max -
   0.1``; we use the levels). Ties: the paper broke exact ties at random (``+
   0.001 * randn``); here the result is the mean of the tied gaps' points, which
   is deterministic and gives the level between two adjacent tied gaps exactly,
   as the random tie-break does. ``method="midpoint"`` gives the simpler
   variant: the midpoint of the utility interval on which the agreement count is
   maximal (what a fine grid search between the lowest and highest level finds).
2. Asymmetry tau = beta+ / (beta+ + beta-): :func:`asymmetry`,
   :func:`asymmetries`. Through-origin least-squares slopes of the response
   against ``x = u - r`` using all trials at levels with x >= 0 (beta+) and x <=
   0 (beta-), as the paper's ``EstimateScaleFactors`` ("linear",
   ``'constant','off'``).  Standard error by the delta method from the two
   slopes' OLS standard errors (the two fits use disjoint trials, so they are
   independent).  The paper instead took the SEM over 7 disjoint folds of the
   trials: :func:`fold_estimates` (reversal point and tau re-estimated on each
   fold; reported next to the delta-method SE).
3. Split-half analysis: :func:`split_half_analysis`.  For each split, the valid
   trials of every (cell, reward size) are divided at random: half B (floor(n/2)
   trials) gives the reversal point r_B, half A (the rest) gives r_A and the
   asymmetry tau_A fitted around r_A (the paper's ``splitIndices``).
   Reliability of reversal points: Pearson r(r_A, r_B) across cells; the
   distributional-TD test: Pearson r(tau_A, r_B) across cells.  Per-split r and
   two-sided p and their medians.  A cell whose all-trial reversal point lies
   on an end of the utility axis (its responses never change sign: cell 19 of
   the recordings, negative at every size) has no reversal point inside the
   reward range; the paper's Figure 5 data leave it out (NaN), and so does
   the headline here (:func:`analyse_recordings` reports both).
4. Utility <-> microlitres: :func:`utility_to_microlitres`,
   :func:`microlitres_to_utility` (piecewise-linear along the utility axis).
5. Decoding by expectile imputation (Rowland et al. 2019):
   :func:`expectile_imputation_loss`, :func:`impute_expectile_samples` (JAX +
   optax: Adam runs vmapped, samples projected onto optional bounds; keeps the
   best run or, ``pool=True``, pools all runs),
   :func:`decode_reward_distribution` (each cell's reversal point, in
   microlitres, read as its tau-expectile and decoded the way the paper's
   decoding code, ``run_decoding``, does: 10 runs of 100 samples, each started
   from the best of 1000 random sample sets drawn over the bounds, the samples
   of all runs pooled; samples constrained to the range of the task's rewards,
   as in the paper's main-text decoding; optionally every cell, with the paper's
   end caps and taus clipped to [0, 1], as the paper decoded: ``tau_clip``,
   ``analyse_recordings(decode_all_cells=True)``).
   :func:`impute_expectile_samples_tnc` is a literal port of the paper's
   optimiser (scipy's bounded TNC), kept as a cross-check of the JAX decoding.
6. Exact statistics of discrete distributions:
   :func:`expectiles_of_distribution`, :func:`quantiles_of_distribution`.
7. Distances: :func:`wasserstein1`.
8. Baselines for the decoded distribution: :func:`baseline_distributions`,
   :func:`baseline_wasserstein_distances` (matched Gaussian, uniform, point
   mass).
9. Variable-probability task (optimistic and pessimistic coding of the 50% cue):
   :func:`classify_probability_cue_units`.
10. The whole real-data pipeline: :func:`analyse_recordings`.
11. A discriminating null for the decoding: :func:`decoding_null` (classical
    populations with each recorded cell's gain and resampled noise, decoded
    as the real cells; :func:`impute_expectile_samples_batch` decodes them
    vmapped).  Beating the matched Gaussian does not separate distributional
    from classical TD; where the real W1 falls in this null does.

Names in backquotes such as ``EstimateZeroCrossings`` are functions of the
paper's MATLAB analysis code, which this module follows where the paper's text
is silent.

Which utility axis.  The data file has the population axis and a per-cell axis.
The per-cell axis is the population axis shifted by a constant per cell, i.e.
re-centred on a per-cell reversal point, as the paper's code does (``utilityAxis
- zeroCrossing``). The stored shifts correlate at r ~ 0.96 with our all-trial
reversal points but are not reproduced exactly (cell 19's lies above the top
level, which the sign-agreement estimator cannot give), so their exact
provenance is unknown. Using that axis to *estimate* reversal points would be
circular (and, in split halves, would leak the other half's trials),
so every reversal point and every split-half quantity here uses the population
axis, as the paper's ``EstimateZeroCrossings(perCell, utilityAxis)`` does, and
asymmetries are fitted against ``population axis - reversal point`` estimated on
the same trials. The per-cell axis is used only as a cross-check
(:func:`analyse_recordings` reports the stored reversal points ``utility_axis -
utility_axis_per_cell`` and the asymmetry fitted on the stored axis, and decodes
with them as a variant).
"""

# pylint: disable=g-importing-member,g-multiple-import
from agents.analysis.dopamine.cells import (
    PAPER_EDGE_INSETS,
    AsymmetryEstimate,
    FoldEstimates,
    ProbabilityCueClassification,
    asymmetries,
    asymmetry,
    classify_probability_cue_units,
    fold_estimates,
    reversal_point,
    reversal_points,
)
from agents.analysis.dopamine.decoding import (
    DECODING_TAU_CLIP,
    ImputedSamples,
    decode_reward_distribution,
    impute_expectile_samples,
    impute_expectile_samples_batch,
    impute_expectile_samples_tnc,
    microlitres_to_utility,
    utility_to_microlitres,
)
from agents.analysis.dopamine.nulls import (
    DecodingNull,
    classical_null_responses,
    decoding_null,
    decoding_pairs,
)
from agents.analysis.dopamine.recordings import (
    TRUE_MAGNITUDES_UL,
    TRUE_PROBABILITIES,
    DopamineAnalysis,
    analyse_recordings,
)
from agents.analysis.dopamine.statistics import (
    SplitHalfResult,
    baseline_distributions,
    baseline_wasserstein_distances,
    expectiles_of_distribution,
    pearson_with_pvalue,
    quantiles_of_distribution,
    split_half_analysis,
)
from agents.lib.distributional import (
    expectile_imputation_loss,
    wasserstein1,
)

__all__ = [
    "PAPER_EDGE_INSETS",
    "AsymmetryEstimate",
    "FoldEstimates",
    "ProbabilityCueClassification",
    "asymmetries",
    "asymmetry",
    "classify_probability_cue_units",
    "fold_estimates",
    "reversal_point",
    "reversal_points",
    "DECODING_TAU_CLIP",
    "ImputedSamples",
    "decode_reward_distribution",
    "impute_expectile_samples",
    "impute_expectile_samples_batch",
    "impute_expectile_samples_tnc",
    "microlitres_to_utility",
    "utility_to_microlitres",
    "DecodingNull",
    "classical_null_responses",
    "decoding_null",
    "decoding_pairs",
    "TRUE_MAGNITUDES_UL",
    "TRUE_PROBABILITIES",
    "DopamineAnalysis",
    "analyse_recordings",
    "SplitHalfResult",
    "baseline_distributions",
    "baseline_wasserstein_distances",
    "expectiles_of_distribution",
    "pearson_with_pvalue",
    "quantiles_of_distribution",
    "split_half_analysis",
    "expectile_imputation_loss",
    "wasserstein1",
]
