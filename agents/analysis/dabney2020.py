"""Reproduction of Dabney et al. 2020: the recordings and the model, one call.

W. Dabney, Z. Kurth-Nelson, N. Uchida, C. K. Starkweather, D. Hassabis, R.
Munos, M. Botvinick, "A distributional code for value in dopamine-based
reinforcement learning", Nature 577, 671-675 (2020).

:func:`run_reproduction` runs every part and writes the results to a directory:

1. Real data (``shared/data/dabney2020/variable_magnitude.npz``, if present):
   :func:`agents.analysis.dopamine.analyse_recordings` -- reversal points,
   asymmetries, split halves (Fig. 3 / Extended Data Fig. 5), and the decoded
   reward distribution (Fig. 5) against the matched Gaussian, the uniform and
   the point mass (Extended Data Fig. 8d).  The decoding uses every cell, as the
   paper did (``decode_all_cells=True``; the 39-cell decoding is reported next
   to it), and the paper's imputation procedure
   (:func:`agents.analysis.dopamine.decode_reward_distribution`:
   ``imputation_restarts`` runs of JAX + optax projected Adam, each from the
   best of ``imputation_candidates`` random sample sets over the reward range,
   samples pooled).  It is repeated over ``imputation_seeds`` imputation seeds,
   so the comparison with the Gaussian is reported with its spread, not from one
   lucky or unlucky seed.  The same decodings with a literal port of the paper's
   optimiser (scipy's bounded TNC,
   :func:`agents.analysis.dopamine.impute_expectile_samples_tnc`) are reported
   next to them as a cross-check (``decoded_w1_ul_paper_tnc``).  Being below
   the Gaussian does not separate distributional from classical TD (noisy
   classical pairs decode below it too); the finding is where the real W1
   falls among ``null_populations`` classical-TD populations with each cell's
   own gain and resampled noise, decoded the same way
   (:func:`agents.analysis.dopamine.decoding_null`,
   ``decoding_vs_classical_null``).  The split halves leave out the cells
   without a reversal point inside the reward range (cell 19), as the paper's
   Figure 5 data do, with the all-cell numbers beside them; per-cell tau
   errors by the delta method and by the paper's 7-fold SEM.  ``cells.csv``:
   one row per cell.
2. Simulated recordings, variable-magnitude task (Fig. 3 / Extended Data Fig.
   4): a distributional (expectile) population and a classical one (every unit
   learns the mean: alpha+ = alpha-, per-unit step sizes drawn around the mean
   step), each ``num_units`` units (40, like the recordings), trained on the
   task's rewards (:func:`agents.distributional_td.simulate_rewards`).  Their
   trial responses (:func:`agents.distributional_td.trial_responses`: scaled
   prediction errors plus Gaussian noise, with per-size trial counts drawn like
   the recordings' and NaN padding) go through the SAME analysis functions as
   the real cells: reversal points, asymmetries, split halves.
   ``num_experiments`` independent simulated recordings are analysed and their
   split-half correlations averaged (one 40-cell experiment's r has a standard
   error of ~0.15).  The simulation's utility axis is the reward itself (the
   model's prediction error is linear in reward). The first experiment's (tau,
   reversal point) pairs are decoded like the real ones (W1 to the true
   distribution next to the same three baselines), and against their own
   classical null (``sim_null_populations``): the distributional population
   is the null test's positive control, the classical one its negative.
3. Learned vs true statistics: a larger expectile population and a quantile one
   against the exact expectiles / quantiles of the reward distribution (Fig.
   1-2).
4. Variable-probability task (Fig. 4, Extended Data Fig. 7): cues predicting
   reward with 10%, 50%, 90%; each unit learns from its own trial sequence,
   and its cue responses (the cue prediction error at a series of value
   snapshots taken while learning goes on, plus response noise) are
   classified optimistic / pessimistic / interpolating by
   :func:`agents.analysis.dopamine.classify_probability_cue_units`, in
   ``probability_experiments`` independent simulated recordings.

Figures (PNG, drawn by :mod:`agents.analysis.dabney2020_figures`):
``learned_vs_true.png``, ``asymmetry_vs_reversal.png``,
``decoded_distribution.png``, ``probability_cues.png``.  ``summary.json``: every
headline number (see :func:`run_reproduction`).
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from agents import distributional_td as dtd
from agents.analysis import dabney2020_figures as figs
from agents.analysis.dabney2020_probability import (  # pylint: disable=g-importing-member
    run_probability_task,
    simulate_probability_cue_responses,
)
from agents.analysis import dopamine as da
from agents.lib import cpu_threefry
from agents.runtime import workdir as workdir_lib
from environments import dopamine_tasks as dt

PAPER = (
    "Dabney, Kurth-Nelson, Uchida, Starkweather, Hassabis, Munos, Botvinick, "
    "'A distributional code for value in dopamine-based reinforcement "
    "learning', Nature 577, 671-675 (2020)"
)


@dataclasses.dataclass(frozen=True)
class Settings:
  """Everything :func:`run_reproduction` runs with (``quick`` shrinks the costly
  parts)."""

  num_splits: int = 1000  # split halves, real and simulated
  imputation_seeds: int = 5  # decodings of the real cells (the spread of W1)
  # runs pooled per decoding (the paper's max_epochs)
  imputation_restarts: int = 10
  # random initial sample sets per run (the paper's max_samples)
  imputation_candidates: int = 1000
  imputation_steps: int = 2000  # Adam steps per run
  # classical-TD null populations (the recordings' own gains and noise)
  # decoded like the real cells; and for the simulated controls
  null_populations: int = 100
  sim_null_populations: int = 50
  # Variable-magnitude simulation.
  num_units: int = 40  # like the recordings
  num_experiments: int = 8  # independent simulated recordings per population
  learning_trials: int = 20_000
  step_size: float = 0.002  # mean of alpha+ and alpha-
  # log-normal spread of the classical units' step sizes
  classical_step_size_noise: float = 0.3
  trials_per_cell: int = 222  # the recordings: 8877 trials over 40 cells
  max_trials_per_size: int = 120  # the recordings' padding
  # trial noise s.d., as a fraction of the reward range (20 - 0.1 ul)
  response_noise: float = 0.05
  # Learned vs true.
  large_population: int = 200
  quantile_step_size: float = 0.01
  quantile_learning_trials: int = 30_000
  # Variable-probability task.
  probability_units: int = 40
  # independent simulated recordings (the classical control is checked on each)
  probability_experiments: int = 8
  probability_step_size: float = 0.01
  probability_burn_in_trials: int = 20_000
  # value snapshots, one response per cue each
  probability_trials_per_cue: int = 40
  # learning trials between snapshots: far enough apart for a unit's values
  # to decorrelate (its 50%-cue value is updated ~670 times in between), so
  # the per-unit t test of the classical control holds its false-positive
  # rate (at 250 it rose to ~10% per side)
  probability_snapshot_every: int = 2000
  # s.d., as a fraction of the reward magnitude
  probability_response_noise: float = 0.05


def quick_settings(num_splits: int | None = None) -> Settings:
  """Smaller settings for smoke tests (same code paths, fewer repetitions)."""
  return Settings(
      num_splits=100 if num_splits is None else num_splits,
      imputation_seeds=2,
      num_experiments=6,
      learning_trials=15_000,
      large_population=100,
      quantile_learning_trials=20_000,
      probability_experiments=2,
      null_populations=8,
      sim_null_populations=4,
  )


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _reward_distribution() -> tuple[np.ndarray, np.ndarray]:
  """The variable-magnitude task's reward sizes (ul) and probabilities
  (normalised)."""
  task = dt.VariableMagnitude()
  values, probs = task.reward_distribution(dt.VariableMagnitude.UNCUED)
  return np.asarray(values, np.float64), np.asarray(probs, np.float64) / np.sum(
      probs
  )


def _pad_to_trial_counts(
    responses: np.ndarray, counts: np.ndarray
) -> np.ndarray:
  """(N, K, T) responses -> NaN beyond counts[i, k] trials (the recordings'
  padding)."""
  t = np.arange(responses.shape[-1])
  return np.where(t[None, None, :] < counts[..., None], responses, np.nan)


# ---------------------------------------------------------------------------
# 2. Simulated recordings, variable-magnitude task
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SimulatedRecording:
  """One simulated recording of ``num_units`` cells (shaped like the real
  data)."""

  kind: str  # "distributional" | "classical"
  population: dtd.Population
  learned_values: (
      np.ndarray
  )  # (N,) each unit's value of the reward state (its true reversal point)
  responses: np.ndarray  # (N, 7, max_trials) NaN-padded, like the recordings


def simulate_magnitude_recording(
    kind: str, key: jax.Array, settings: Settings
) -> SimulatedRecording:
  """Trains a population on the variable-magnitude task and records its
  responses.

  kind "distributional": expectile units, taus (i + 1/2) / N; "classical":
  alpha+ = alpha- per unit (step sizes log-normally spread), every unit learns
  the mean. Values start at the mean reward and learn from ``learning_trials``
  rewards. Responses: the reward prediction error at each reward size, scaled by
  the unit's asymmetry, plus Gaussian noise (s.d. ``response_noise`` x reward
  range); trial counts per size drawn from the task's probabilities
  (``trials_per_cell`` per cell, at most ``max_trials_per_size`` per size), the
  rest NaN.
  """
  values, probs = _reward_distribution()
  population_key, reward_key, noise_key, count_key = jax.random.split(key, 4)
  n = settings.num_units
  if kind == "distributional":
    population = dtd.make_population(
        n, "expectile", step_size=settings.step_size
    )
  elif kind == "classical":
    population = dtd.make_population(
        n,
        "classical",
        population_key,
        step_size=settings.step_size,
        step_size_noise=settings.classical_step_size_noise,
    )
  else:
    raise ValueError(
        f"kind must be 'distributional' or 'classical', got {kind!r}"
    )
  rewards = dtd.sample_rewards(
      values, probs, settings.learning_trials, reward_key
  )
  mean = float(np.dot(values, probs))
  learned = dtd.simulate_rewards(
      population, rewards, initial_values=jnp.full((n,), mean, jnp.float32)
  )
  errors = dtd.reward_prediction_errors(population, learned, values)
  noise = settings.response_noise * float(values.max() - values.min())
  responses = np.asarray(
      dtd.trial_responses(
          population,
          errors,
          settings.max_trials_per_size,
          noise_key,
          response_noise=noise,
      ),
      np.float64,
  )
  rng = np.random.default_rng(
      np.asarray(jax.random.key_data(count_key)).ravel()
  )
  counts = np.clip(
      rng.multinomial(settings.trials_per_cell, probs, size=n),
      2,
      settings.max_trials_per_size,
  )
  return SimulatedRecording(
      kind,
      population,
      np.asarray(learned, np.float64),
      _pad_to_trial_counts(responses, counts),
  )


def analyse_simulated_recording(
    recording: SimulatedRecording, settings: Settings, seed: int
) -> dict[str, Any]:
  """The real data's analysis on a simulated recording (utility axis = reward in
  ul)."""
  values, _ = _reward_distribution()
  reversal = da.reversal_points(recording.responses, values)
  asym = da.asymmetries(recording.responses, values, reversal)
  split = da.split_half_analysis(
      recording.responses, values, num_splits=settings.num_splits, seed=seed
  )
  return {
      "reversal_ul": reversal,
      "tau": asym.tau,
      "tau_se": asym.tau_se,
      "true_tau": np.asarray(recording.population.taus, np.float64),
      "true_reversal_ul": recording.learned_values,
      "asymmetry_vs_reversal_r": split.median_asymmetry_reversal_r,
      "asymmetry_vs_reversal_p": split.median_asymmetry_reversal_p,
      "reversal_split_half_r": split.median_reliability_r,
      "reversal_split_half_p": split.median_reliability_p,
      "r_tau_vs_reversal_all_trials": float(
          da.pearson_with_pvalue(asym.tau, reversal)[0]
      ),
      "split": split,
  }


def _decode_and_compare(
    taus,
    reversals_ul,
    key,
    settings: Settings,
    tau_clip: float | None = None,
    method: str = "adam",
):
  """Bounded expectile imputation (the paper's, pooled runs) -> (samples, W1 to
  the truth, cells used)."""
  values, probs = _reward_distribution()
  imputed, used = da.decode_reward_distribution(
      taus,
      reversals_ul,
      key=key,
      num_restarts=settings.imputation_restarts,
      num_candidates=settings.imputation_candidates,
      bounds=(float(values.min()), float(values.max())),
      tau_clip=tau_clip,
      steps=settings.imputation_steps,
      method=method,
  )
  return (
      imputed.samples,
      da.wasserstein1(imputed.samples, None, values, probs),
      used,
  )


def versus_null(
    null: da.DecodingNull, observed_w1: float, what: str
) -> dict[str, Any]:
  """Where ``observed_w1`` falls in a classical null's W1, with the verdict
  in words (one-sided: does the recording decode better than classical TD
  with its noise?)."""
  position = null.position(observed_w1)
  w = null.w1_ul
  p = position["p_value"]
  verdict = (
      f"{what} decode to W1 {observed_w1:.2f} ul; classical-TD populations "
      f"with the same gains and noise decode to {np.mean(w):.2f} +- "
      f"{np.std(w):.2f} ul (5-95%: {np.percentile(w, 5):.2f}-"
      f"{np.percentile(w, 95):.2f}, {w.size} populations); "
      f"{position['fraction_of_null_at_or_below']:.0%} of them decode at "
      "least as well (p = "
      f"{p:.2g}): "
      + (
          "the decoding separates it from classical TD."
          if p < 0.05
          else "the decoding cannot tell it from classical TD."
      )
  )
  return {
      "observed_w1_ul": observed_w1,
      "num_populations": int(w.size),
      "null_w1_ul_mean": float(np.mean(w)),
      "null_w1_ul_sd": float(np.std(w)),
      "null_w1_ul_p05": float(np.percentile(w, 5)),
      "null_w1_ul_median": float(np.median(w)),
      "null_w1_ul_p95": float(np.percentile(w, 95)),
      "fraction_of_null_at_or_below": position["fraction_of_null_at_or_below"],
      "p_value": p,
      "separates_from_classical": bool(p < 0.05),
      "num_fallback": null.num_fallback,
      "null_w1_ul_per_population": w,
      "finding": verdict,
  }


def _null_control(
    recording: SimulatedRecording, key: jax.Array, settings: Settings, seed
) -> dict[str, Any]:
  """A simulated recording decoded as the real cells are (all cells, caps,
  clip) against its own classical null: the test's positive (distributional)
  and negative (classical) controls."""
  values, probs = _reward_distribution()
  tau, reversal_ul = da.decoding_pairs(recording.responses, values, values)
  imputed, _ = da.decode_reward_distribution(
      tau,
      reversal_ul,
      key=key,
      num_restarts=settings.imputation_restarts,
      num_candidates=settings.imputation_candidates,
      bounds=(float(values.min()), float(values.max())),
      steps=settings.imputation_steps,
  )
  null = da.decoding_null(
      recording.responses,
      values,
      values,
      probs,
      num_populations=settings.sim_null_populations,
      seed=seed,
      num_restarts=settings.imputation_restarts,
      num_candidates=settings.imputation_candidates,
      steps=settings.imputation_steps,
  )
  return versus_null(
      null,
      da.wasserstein1(imputed.samples, None, values, probs),
      f"The simulated {recording.kind} units",
  )


def run_magnitude_simulations(
    key: jax.Array, settings: Settings
) -> tuple[dict[str, Any], dict[str, Any]]:
  """Both populations, ``num_experiments`` recordings each -> (summary, plot
  data)."""
  values, probs = _reward_distribution()
  baselines = da.baseline_wasserstein_distances(values, probs)
  summary: dict[str, Any] = {}
  plot: dict[str, Any] = {}
  for kind_index, kind in enumerate(("distributional", "classical")):
    keys = jax.random.split(
        jax.random.fold_in(key, kind_index), settings.num_experiments
    )
    results = []
    for e, k in enumerate(keys):
      recording = simulate_magnitude_recording(kind, k, settings)
      results.append(analyse_simulated_recording(recording, settings, seed=e))
      if e == 0:
        control = _null_control(
            recording, jax.random.fold_in(key, 300 + kind_index), settings, e
        )
    first = results[0]
    per = {
        name: [r[name] for r in results]
        for name in (
            "asymmetry_vs_reversal_r",
            "asymmetry_vs_reversal_p",
            "reversal_split_half_r",
            "reversal_split_half_p",
        )
    }
    samples, w1, used = _decode_and_compare(
        first["tau"],
        first["reversal_ul"],
        jax.random.fold_in(key, 100 + kind_index),
        settings,
    )
    summary[kind] = {
        "asymmetry_vs_reversal_r": float(
            np.mean(per["asymmetry_vs_reversal_r"])
        ),
        "asymmetry_vs_reversal_r_per_experiment": per[
            "asymmetry_vs_reversal_r"
        ],
        "asymmetry_vs_reversal_p_median": float(
            np.median(per["asymmetry_vs_reversal_p"])
        ),
        "reversal_split_half_r": float(np.mean(per["reversal_split_half_r"])),
        "reversal_split_half_r_per_experiment": per["reversal_split_half_r"],
        "reversal_split_half_p_median": float(
            np.median(per["reversal_split_half_p"])
        ),
        "decoded_w1": w1,
        "num_cells_decoded": int(used.sum()),
        "decoding_vs_classical_null": control,
    }
    plot[kind] = dict(first, decoded_samples=samples)
  # Headline decoding: the distributional population's first recording.
  dist = plot["distributional"]
  _, w1_true_pairs, _ = _decode_and_compare(
      dist["true_tau"],
      dist["true_reversal_ul"],
      jax.random.fold_in(key, 200),
      settings,
  )
  summary.update(
      decoded_w1=summary["distributional"]["decoded_w1"],
      gaussian_w1=baselines["gaussian"],
      uniform_w1=baselines["uniform"],
      point_mass_w1=baselines["point_mass"],
      decoded_w1_true_pairs=w1_true_pairs,
  )
  return summary, plot


# ---------------------------------------------------------------------------
# 3. Learned vs true expectiles and quantiles
# ---------------------------------------------------------------------------


def learned_vs_true(
    key: jax.Array, settings: Settings
) -> tuple[dict[str, Any], dict[str, Any]]:
  """Large expectile and quantile populations vs the exact statistics of the
  rewards."""
  values, probs = _reward_distribution()
  n = settings.large_population
  taus = (np.arange(n) + 0.5) / n
  mean = float(np.dot(values, probs))
  out, plot = {}, {"taus": taus}
  for i, (rule, step, trials, exact) in enumerate(
      (
          (
              "expectile",
              settings.step_size,
              settings.learning_trials,
              da.expectiles_of_distribution,
          ),
          (
              "quantile",
              settings.quantile_step_size,
              settings.quantile_learning_trials,
              da.quantiles_of_distribution,
          ),
      )
  ):
    population = dtd.make_population(n, rule, taus=taus, step_size=step)
    rewards = dtd.sample_rewards(
        values, probs, trials, jax.random.fold_in(key, i)
    )
    learned = np.asarray(
        dtd.simulate_rewards(
            population,
            rewards,
            initial_values=jnp.full((n,), mean, jnp.float32),
        )
    )
    true = exact(values, probs, taus)
    plot[rule] = (learned, true)
    error = np.abs(learned - true)
    out[f"{rule}_median_abs_error_ul"] = float(np.median(error))
    out[f"{rule}_p95_abs_error_ul"] = float(np.percentile(error, 95))
  # A tau on a step of the reward CDF has no unique quantile (any value between
  # two reward sizes is one), so a few quantile units sit anywhere in that
  # interval.
  out["num_units"] = n
  return out, plot


# ---------------------------------------------------------------------------
# 1. Real data
# ---------------------------------------------------------------------------


def analyse_real_data(
    data_path: Path, workdir: Path, settings: Settings, seed: int
) -> tuple[dict[str, Any], Any]:
  """analyse_recordings + the decoding repeated over imputation seeds; writes
  cells.csv."""
  analysis = da.analyse_recordings(
      data_path,
      num_splits=settings.num_splits,
      seed=seed,
      num_restarts=settings.imputation_restarts,
      num_candidates=settings.imputation_candidates,
      steps=settings.imputation_steps,
      paper_variants=True,
      decode_all_cells=True,
  )
  s, cells = analysis.summary, analysis.cells
  values, probs = analysis.true_values, analysis.true_probs
  w1_all, w1_finite, w1_tnc = [], [], []

  # Against the same true distribution as the baselines (the recordings'
  # frequencies).
  def w1(samples):
    return da.wasserstein1(samples, None, values, probs)

  for k in range(settings.imputation_seeds):
    key = jax.random.fold_in(jax.random.key(seed), 1000 + k)
    w1_all.append(
        w1(
            _decode_and_compare(
                cells["tau_capped"],
                cells["reversal_ul_capped"],
                key,
                settings,
                tau_clip=da.DECODING_TAU_CLIP,
            )[0]
        )
    )
    w1_finite.append(
        w1(
            _decode_and_compare(
                cells["tau"], cells["reversal_ul"], key, settings
            )[0]
        )
    )
    # Cross-check: the same decoding with a literal port of the paper's
    # optimiser (bounded TNC).
    w1_tnc.append(
        w1(
            _decode_and_compare(
                cells["tau_capped"],
                cells["reversal_ul_capped"],
                key,
                settings,
                tau_clip=da.DECODING_TAU_CLIP,
                method="tnc",
            )[0]
        )
    )
  gaussian = s["w1_gaussian_ul"]
  # The discriminating comparison: classical-TD populations with the cells'
  # own gains and noise, decoded the same way (headline decoding: all cells,
  # caps, clip), against the real cells' mean W1 over imputation seeds.
  with np.load(data_path) as data:
    null = da.decoding_null(
        np.asarray(data["responses"], np.float64),
        np.asarray(data["utility_axis"], np.float64),
        values,
        probs,
        num_populations=settings.null_populations,
        seed=seed,
        num_restarts=settings.imputation_restarts,
        num_candidates=settings.imputation_candidates,
        steps=settings.imputation_steps,
    )
  versus = versus_null(null, float(np.mean(w1_all)), "The real cells")

  def spread(w):
    return {
        "mean": float(np.mean(w)),
        "min": float(np.min(w)),
        "max": float(np.max(w)),
        "fraction_below_gaussian": float(np.mean(np.asarray(w) < gaussian)),
        "per_seed": w,
    }

  rows = analysis.cell_rows()
  with open(workdir / "cells.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  real = {
      "skipped": False,
      "data_path": str(data_path),
      "num_cells": s["num_cells"],
      "num_trials": s["num_trials"],
      "num_splits": s["num_splits"],
      # Headline: as the paper's Figure 5 data, without the cells whose
      # responses never change sign (no reversal point inside the reward
      # range: cell 19, negative at every size), the paper's end caps for the
      # rest.  Next to it, every cell with the caps ("_with_end_cells"; the
      # all-negative cell then sits 0.1 below the top level with tau ~1) and
      # without caps ("_uncapped"; that cell has no tau and drops out of the
      # asymmetry correlation only).
      "method": "paper_caps_without_end_cells",
      "excluded_cells": [int(i) for i in s["excluded_cells"].split(",") if i],
      "num_cells_split_half": s["num_cells_without_end_cells"],
      "reversal_split_half_r": s[
          "split_half_reversal_r_median_without_end_cells"
      ],
      "reversal_split_half_p": s[
          "split_half_reversal_p_median_without_end_cells"
      ],
      "asymmetry_vs_reversal_r": s[
          "asymmetry_vs_reversal_r_median_without_end_cells"
      ],
      "asymmetry_vs_reversal_p": s[
          "asymmetry_vs_reversal_p_median_without_end_cells"
      ],
      "asymmetry_vs_reversal_fraction_p_below_0_05": s[
          "asymmetry_vs_reversal_fraction_p_below_0_05_without_end_cells"
      ],
      "reversal_split_half_r_with_end_cells": s[
          "split_half_reversal_r_median_paper_caps"
      ],
      "reversal_split_half_p_with_end_cells": s[
          "split_half_reversal_p_median_paper_caps"
      ],
      "asymmetry_vs_reversal_r_with_end_cells": s[
          "asymmetry_vs_reversal_r_median_paper_caps"
      ],
      "asymmetry_vs_reversal_p_with_end_cells": s[
          "asymmetry_vs_reversal_p_median_paper_caps"
      ],
      "reversal_split_half_r_uncapped": s["split_half_reversal_r_median"],
      "reversal_split_half_p_uncapped": s["split_half_reversal_p_median"],
      "reversal_split_half_fraction_p_below_0_05_uncapped": s[
          "split_half_reversal_fraction_p_below_0_05"
      ],
      "asymmetry_vs_reversal_r_uncapped": s["asymmetry_vs_reversal_r_median"],
      "asymmetry_vs_reversal_p_uncapped": s["asymmetry_vs_reversal_p_median"],
      "asymmetry_vs_reversal_fraction_p_below_0_05_uncapped": s[
          "asymmetry_vs_reversal_fraction_p_below_0_05"
      ],
      # Per-cell error bars: the delta method and the paper's 7-fold SEM.
      "tau_standard_errors": {
          "delta_method_median": s["tau_delta_se_median"],
          "sem_7fold_median": s["tau_sem_7fold_median"],
          "sem_7fold_over_delta_median": s[
              "tau_sem_7fold_over_delta_se_median"
          ],
          "sem_7fold_over_delta_mean": s["tau_sem_7fold_over_delta_se_mean"],
          "sem_7fold_fixed_reversal_over_delta_median": s[
              "tau_sem_7fold_fixed_reversal_over_delta_se_median"
          ],
          "num_cells": s["num_cells_with_both_se"],
          "num_folds": s["num_folds"],
          "notes": (
              "per cell: delta-method SE of tau (cells.csv tau_se) and the "
              "SEM over 7 disjoint folds of its trials (tau_sem_7fold: "
              "every size's trials dealt at random to the folds, reversal "
              "point and tau re-estimated on each fold, paper's caps); "
              "tau_sem_7fold_fixed_reversal fits each fold's tau around the "
              "all-trial reversal point. Ratios: median (mean) over the "
              "cells with both."
          ),
      },
      "r_tau_vs_reversal_all_trials": s["r_tau_vs_reversal_all_trials"],
      "decoded_cells": s["decoded_cells"],
      "num_cells_decoded": s["num_cells_decoded"],
      "decoded_w1_ul": float(np.mean(w1_all)),
      "decoded_w1_ul_single_imputation": s["w1_decoded_ul"],
      "decoded_w1_ul_finite_cells": float(np.mean(w1_finite)),
      "decoded_w1_ul_unbounded_finite_cells": s["w1_decoded_unbounded_ul"],
      "decoded_w1_ul_over_seeds": spread(w1_all),
      "decoded_w1_ul_finite_cells_over_seeds": spread(w1_finite),
      "decoded_w1_ul_paper_tnc": float(np.mean(w1_tnc)),
      "decoded_w1_ul_paper_tnc_over_seeds": spread(w1_tnc),
      "gaussian_w1_ul": gaussian,
      "uniform_w1_ul": s["w1_uniform_ul"],
      "point_mass_w1_ul": s["w1_point_mass_ul"],
      "decoding_vs_classical_null": versus,
      "decoded_beats_uniform": bool(np.max(w1_all) < s["w1_uniform_ul"]),
      "decoded_beats_point_mass": bool(np.max(w1_all) < s["w1_point_mass_ul"]),
      "decoded_mean_ul": s["decoded_mean_ul"],
      "true_mean_ul": s["true_mean_ul"],
      "notes": (
          "decoded_w1_ul is the mean over imputation seeds (the single "
          "decoding of analyse_recordings is decoded_w1_ul_single_imputation). "
          "Being below the matched Gaussian's W1 is no evidence for a "
          "distributional code: classical-TD pairs with estimation noise "
          "decode below it too. decoding_vs_classical_null places that mean "
          "in the W1 of classical populations with the cells' own gains and "
          "resampled noise, decoded the same way "
          "(agents.analysis.dopamine.nulls); its finding says in words "
          "whether the decoding separates the two. Decoded from all 40 "
          "cells as the paper did (its published decoding inputs include the "
          "all-negative cell): end reversal points capped as in the paper's "
          "code, taus clipped to [0, 1] as in its decoding code. Imputation as "
          "in the paper's code (run_decoding), in JAX + optax: each decoding "
          "pools imputation_restarts runs of 100 samples, each started from "
          "the best of imputation_candidates uniform random sample sets on "
          "[0.1, 20] ul and refined by imputation_steps Adam steps projected "
          "onto [0.1, 20]. decoded_w1_ul_paper_tnc: the same decodings (same "
          "cells, seeds and settings) with a literal port of the paper's "
          "optimiser (scipy bounded TNC, exact gradient), a cross-check that "
          "the optimiser does not drive the result. W1 is exact (samples vs "
          "the 7 atoms, the recordings' trial frequencies). The Gaussian "
          "baseline has the true mean and variance (Extended Data Fig. 8d), "
          "untruncated, and its W1 is exact (continuous CDF). Keeping only the "
          "lowest-loss run instead of pooling, or other ways to enforce the "
          "bounds, move W1 towards the Gaussian's; see "
          "agents.analysis.dopamine.analyse_recordings."
      ),
  }
  return real, analysis


# ---------------------------------------------------------------------------
# Everything
# ---------------------------------------------------------------------------


def run_reproduction(
    data_path: str | Path | None,
    workdir: str | Path,
    *,
    num_splits: int = 1000,
    quick: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
  """Runs the reproduction and writes DIR/summary.json, DIR/cells.csv,
  DIR/*.png.

  Args:
    data_path: the recordings (``variable_magnitude.npz``); None or a missing
      file skips the real-data part (``real.skipped`` true, with
      ``real.skip_reason``).
    workdir: output directory (created).
    num_splits: split halves for the real and simulated analyses.
    quick: smaller settings (:func:`quick_settings`) for smoke tests.
    seed: all randomness derives from it (same seed, same numbers).

  Returns the summary written to summary.json: ``real`` (split-half r and p,
  asymmetry-vs-reversal r and p, decoded W1 and the baselines' in microlitres,
  the decoding's spread over imputation seeds, ``decoding_vs_classical_null``:
  where the real W1 falls among classical-TD populations with the cells' own
  noise),
  ``sim`` (``distributional`` / ``classical``: mean split-half
  asymmetry-vs-reversal r over the simulated experiments and per experiment;
  ``decoded_w1`` and the baselines; ``probability_task`` fractions;
  ``learned_vs_true`` errors), ``settings``, ``figures`` and ``timings_s``.
  """
  cpu_threefry.install_for_runtime()  # before the simulations compile
  start = time.perf_counter()
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  settings = (
      quick_settings(num_splits)
      if quick
      else dataclasses.replace(Settings(), num_splits=num_splits)
  )
  if num_splits < 1:
    raise ValueError(f"num_splits must be >= 1, got {num_splits}")
  timings: dict[str, float] = {}
  key = jax.random.key(seed)

  def timed(name, fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    timings[name] = time.perf_counter() - t
    return out

  real_analysis = None
  if data_path is None:
    real: dict[str, Any] = {
        "skipped": True,
        "skip_reason": "no data path given",
    }
  elif not Path(data_path).is_file():
    real = {
        "skipped": True,
        "skip_reason": f"recordings not found at {data_path}",
    }
  else:
    real, real_analysis = timed(
        "real", analyse_real_data, Path(data_path), workdir, settings, seed
    )

  sim, sim_plot = timed(
      "simulation_magnitude",
      run_magnitude_simulations,
      jax.random.fold_in(key, 1),
      settings,
  )
  sim["learned_vs_true"], learned_plot = timed(
      "learned_vs_true", learned_vs_true, jax.random.fold_in(key, 2), settings
  )
  sim["probability_task"], probability_plot = timed(
      "simulation_probability",
      run_probability_task,
      jax.random.fold_in(key, 3),
      settings,
  )
  sim["settings"] = {
      "num_units": settings.num_units,
      "num_experiments": settings.num_experiments,
      "learning_trials": settings.learning_trials,
      "step_size": settings.step_size,
      "classical": (
          "alpha+ = alpha-, step sizes x "
          f"exp({settings.classical_step_size_noise} N(0, 1))"
      ),
      "response_noise_fraction_of_reward_range": settings.response_noise,
      "trials_per_cell": settings.trials_per_cell,
      "utility_axis": "reward (ul)",
  }
  sim["notes"] = (
      "asymmetry_vs_reversal_r is the mean over simulated experiments of each "
      "one's median split-half r(tau on half A, reversal point on half B). The "
      "classical population's r is not exactly 0: its units' values differ "
      "slightly (learning noise, frozen while recorded), so their reversal "
      "points are a little reliable across halves, and a tau fitted around a "
      "reversal point estimated on the same half rises with that estimate; its "
      "r tracks its reversal-point reliability (reversal_split_half_r). "
      "decoded_w1 decodes the first distributional experiment's estimated "
      "(tau, reversal point) pairs; decoded_w1_true_pairs the model's own taus "
      "and values; classical.decoded_w1 decodes the classical population's "
      "first experiment the same way, a control for what the decoder makes of "
      "pairs that carry only the mean (plus estimation noise)."
  )

  t = time.perf_counter()
  figures = [
      "learned_vs_true.png",
      "asymmetry_vs_reversal.png",
      "decoded_distribution.png",
      "probability_cues.png",
  ]
  figs.plot_learned_vs_true(learned_plot, workdir / figures[0])
  panels = [
      None
      if real_analysis is None
      else figs.asymmetry_reversal_panel(
          "real (left out, no reversal point in the reward range: cell(s) "
          + ",".join(str(i) for i in real["excluded_cells"])
          + ")",
          real_analysis.split_halves["without_end_cells"],
          lambda u: da.utility_to_microlitres(
              u, real_analysis.utility_axis, real_analysis.true_values
          ),
      )
  ] + [
      figs.asymmetry_reversal_panel(
          f"simulated {kind} (experiment 1)",
          sim_plot[kind]["split"],
          true_pairs=(
              sim_plot[kind]["true_tau"],
              sim_plot[kind]["true_reversal_ul"],
          ),
      )
      for kind in ("distributional", "classical")
  ]
  figs.plot_asymmetry_vs_reversal(panels, workdir / figures[1])
  figs.plot_decoded_distribution(
      real_analysis,
      real,
      sim_plot,
      _reward_distribution(),
      workdir / figures[2],
  )
  figs.plot_probability_cues(
      probability_plot, sim["probability_task"], workdir / figures[3]
  )
  timings["figures"] = time.perf_counter() - t
  timings["total"] = time.perf_counter() - start

  figure_panels = {
      "asymmetry_vs_reversal.png": [
          None
          if p is None
          else {k: p[k] for k in ("label", "split_index", "n", "r", "p")}
          for p in panels
      ]
  }
  summary = {
      "paper": PAPER,
      "real": real,
      "sim": sim,
      "settings": dict(dataclasses.asdict(settings), quick=quick, seed=seed),
      "figures": figures + ([] if real_analysis is None else ["cells.csv"]),
      "figure_panels": figure_panels,
      "timings_s": timings,
  }
  summary = workdir_lib.jsonable(summary, nonfinite_as_none=True)
  workdir_lib.write_json_atomic(str(workdir / "summary.json"), summary)
  return summary
