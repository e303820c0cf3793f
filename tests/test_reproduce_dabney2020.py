"""Smoke tests of scripts/reproduce_dabney2020.py (Dabney et al. 2020) and checks
on the simulated results it reports: the model's signatures must come out of the
same analysis that is applied to the real recordings."""

import json

import pytest

from tests.conftest import SHARED_DATA, run_script

pytestmark = pytest.mark.slow

DATA = SHARED_DATA / "dabney2020" / "variable_magnitude.npz"
FIGURES = (
    "learned_vs_true.png",
    "asymmetry_vs_reversal.png",
    "decoded_distribution.png",
    "probability_cues.png",
)


def _reproduce(workdir, *extra):
  proc = run_script(
      [
          "-m",
          "scripts.reproduce_dabney2020",
          f"--workdir={workdir}",
          "--quick",
          *extra,
      ],
      timeout=300,
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr
  with open(workdir / "summary.json") as f:
    return proc, json.load(f)


@pytest.fixture(scope="module")
def without_data(tmp_path_factory):
  """The skipped-data path: --data= (empty) asks for the simulations only."""
  workdir = tmp_path_factory.mktemp("dabney2020_no_data")
  return workdir, *_reproduce(workdir, "--data=")


def test_missing_data_is_skipped_with_a_reason(without_data):
  workdir, proc, summary = without_data
  assert summary["real"]["skipped"] is True
  assert "no data path given" in summary["real"]["skip_reason"]
  assert "SKIPPED" in proc.stdout and "no data path given" in proc.stdout
  assert not (workdir / "cells.csv").exists()
  for name in FIGURES:  # the figures are drawn without the real panel
    assert (workdir / name).stat().st_size > 0


def test_simulated_asymmetry_vs_reversal(without_data):
  sim = without_data[2]["sim"]
  # Distributional TD: asymmetry (one half of the trials) predicts the reversal
  # point (the other half); classical TD: no relation beyond noise.
  assert sim["distributional"]["asymmetry_vs_reversal_r"] >= 0.9
  assert sim["distributional"]["asymmetry_vs_reversal_p_median"] < 1e-6
  assert abs(sim["classical"]["asymmetry_vs_reversal_r"]) < 0.2
  assert sim["distributional"]["reversal_split_half_r"] > 0.9


def test_simulated_decoding_and_learned_statistics(without_data):
  sim = without_data[2]["sim"]
  # Decoding the distributional population recovers the distribution better than
  # every baseline; the classical population's (all at the mean) cannot.
  assert sim["decoded_w1"] < min(
      sim["gaussian_w1"], sim["uniform_w1"], sim["point_mass_w1"]
  )
  assert sim["classical"]["decoded_w1"] > sim["decoded_w1"]
  assert sim["learned_vs_true"]["expectile_median_abs_error_ul"] < 0.2
  assert sim["learned_vs_true"]["quantile_median_abs_error_ul"] < 0.2


def test_simulated_decoding_against_its_classical_null(without_data):
  sim = without_data[2]["sim"]
  # Positive control: the distributional population decodes better than (at
  # most one of 4) classical populations with its noise.
  control = sim["distributional"]["decoding_vs_classical_null"]
  assert control["fraction_of_null_at_or_below"] <= 1 / 4
  negative = sim["classical"]["decoding_vs_classical_null"]
  assert negative["num_populations"] == 4 and negative["num_fallback"] == 0


def test_simulated_probability_task(without_data):
  prob = without_data[2]["sim"]["probability_task"]
  assert (
      prob["fraction_optimistic"] > 0.2 and prob["fraction_pessimistic"] > 0.2
  )
  # Classical units all code the 50% cue halfway; what is left is the test's
  # false-positive rate (5% per side at alpha 0.05).
  assert prob["classical_fraction_optimistic"] <= 0.15
  assert prob["classical_fraction_pessimistic"] <= 0.15
  assert prob["classical_fraction_interpolating"] >= 0.8
  assert prob["num_experiments"] == 2
  assert prob["classical_max_fraction_optimistic"] <= 0.15
  assert prob["classical_max_fraction_pessimistic"] <= 0.15
  assert len(prob["per_experiment"]["classical_fraction_optimistic"]) == 2


@pytest.mark.skipif(not DATA.exists(), reason=f"recordings not found at {DATA}")
def test_real_data(tmp_path):
  proc, summary = _reproduce(tmp_path)
  real = summary["real"]
  assert real["skipped"] is False and real["num_cells"] == 40
  assert real["num_splits"] == 100
  assert (
      real["reversal_split_half_r"] > 0.5
      and real["reversal_split_half_p"] < 0.05
  )
  assert real["asymmetry_vs_reversal_r"] > 0.3
  for name in (
      "decoded_w1_ul",
      "gaussian_w1_ul",
      "uniform_w1_ul",
      "point_mass_w1_ul",
  ):
    assert real[name] > 0
  assert real["decoded_w1_ul"] < min(
      real["uniform_w1_ul"], real["point_mass_w1_ul"]
  )
  # The paper's decoding (pooled runs) is below the matched Gaussian on every imputation
  # seed, and so is the same decoding with the paper's own optimiser (TNC cross-check);
  # a property of the decoding, not the finding.
  assert real["decoded_w1_ul_over_seeds"]["fraction_below_gaussian"] == 1.0
  assert (
      real["decoded_w1_ul_paper_tnc_over_seeds"]["max"] < real["gaussian_w1_ul"]
  )
  assert "decoded_beats_gaussian" not in real
  # The finding: where the real W1 falls among classical-TD populations with the
  # cells' own noise, in numbers and in words.
  versus = real["decoding_vs_classical_null"]
  assert versus["num_populations"] == 8
  assert len(versus["null_w1_ul_per_population"]) == 8
  assert versus["observed_w1_ul"] == pytest.approx(real["decoded_w1_ul"])
  assert versus["finding"] in proc.stdout
  assert ("cannot tell" in versus["finding"]) == (versus["p_value"] >= 0.05)
  # Split halves: cell 19 left out (headline), with it side by side.
  assert real["excluded_cells"] == [19] and real["num_cells_split_half"] == 39
  assert (
      real["asymmetry_vs_reversal_r_with_end_cells"]
      > real["asymmetry_vs_reversal_r"]
  )
  assert "with cell(s) 19" in proc.stdout
  assert real["tau_standard_errors"]["sem_7fold_over_delta_median"] > 1.0
  panels = summary["figure_panels"]["asymmetry_vs_reversal.png"]
  assert panels[0]["n"] == 39
  with open(tmp_path / "cells.csv") as f:
    header, *rows = f.read().splitlines()
  assert len(rows) == 40
  assert {"reversal_utility", "reversal_ul", "tau", "tau_se"} <= set(
      header.split(",")
  )
  for name in FIGURES:
    assert (tmp_path / name).stat().st_size > 0
  assert (
      "real data: 40 cells" in proc.stdout
      and "cross-check: paper's TNC optimiser" in proc.stdout
  )
