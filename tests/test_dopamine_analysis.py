"""Tests of agents.analysis.dopamine (Dabney et al. 2020 analysis)."""

from pathlib import Path

import chex
import jax
import numpy as np
import pytest
import scipy.stats

from agents.analysis import dopamine as da
from agents.analysis.dopamine import statistics as da_statistics

DATA_PATH = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/dabney2020/variable_magnitude.npz"
)

# A utility axis shaped like the recordings' one (ascending, unevenly spaced).
AXIS = np.array([-3.6, -3.3, -2.8, -1.8, 0.2, 4.4, 8.3])


def planted_cell(
    rng, reversal, beta_plus, beta_minus, noise=0.5, trials=60, axis=AXIS
):
  """responses = beta+ (u - r) above r, beta- (u - r) below, plus Gaussian noise."""
  x = axis[:, None] - reversal
  mean = np.where(x > 0, beta_plus * x, beta_minus * x)
  return mean + noise * rng.standard_normal((axis.size, trials))


def planted_population(rng, reversals, taus, noise=1.0, trials=40, scale=1.0):
  """(C, L, T) responses with NaN padding (a random number of trials per cell and size)."""
  out = np.full((len(reversals), AXIS.size, trials), np.nan)
  for i, (r, t) in enumerate(zip(reversals, taus)):
    cell = planted_cell(rng, r, scale * t, scale * (1 - t), noise, trials)
    for j in range(AXIS.size):
      n = rng.integers(trials // 2, trials + 1)
      out[i, j, :n] = cell[j, :n]
  return out


# --------------------------------------------------------------------------- reversal points


def test_reversal_point_noise_free_lies_midway_between_bracketing_levels():
  responses = planted_cell(
      np.random.default_rng(0), 1.0, 2.0, 1.0, noise=0.0, trials=10
  )
  # Gap between 0.2 and 4.4 wins with equal drops on both sides -> midpoint.
  assert da.reversal_point(responses, AXIS) == pytest.approx(2.3)
  assert da.reversal_point(responses, AXIS, method="midpoint") == pytest.approx(
      2.3
  )


def test_reversal_point_balanced_level_attracts_the_reversal_point():
  # Level 3 has as many positive as negative trials: the reversal sits on it.
  responses = np.where(np.arange(7)[:, None] < 3, -1.0, 1.0) * np.ones((7, 10))
  responses[3, :5] = -1.0
  assert da.reversal_point(responses, AXIS) == pytest.approx(AXIS[3])
  # "midpoint": the count is maximal on (u_2, u_4) (bar u_3 itself) -> its midpoint.
  assert da.reversal_point(responses, AXIS, method="midpoint") == pytest.approx(
      0.5 * (AXIS[2] + AXIS[4])
  )


def test_reversal_point_unsorted_utilities_and_nan_padding():
  rng = np.random.default_rng(1)
  responses = planted_cell(rng, -2.0, 1.5, 1.5, noise=0.2, trials=30)
  responses[:, 20:] = np.nan
  order = rng.permutation(AXIS.size)
  assert da.reversal_point(responses[order], AXIS[order]) == pytest.approx(
      da.reversal_point(responses, AXIS)
  )


@pytest.mark.parametrize("reversal", [-3.0, -2.0, 1.0, 3.0, 6.0])
def test_reversal_point_recovers_planted_value_within_its_gap(reversal):
  rng = np.random.default_rng(2)
  estimate = da.reversal_point(
      planted_cell(rng, reversal, 1.0, 1.0, noise=1.0), AXIS
  )
  hi = np.searchsorted(AXIS, reversal)
  assert AXIS[hi - 1] <= estimate <= AXIS[hi]


def test_reversal_point_edges_and_no_data():
  negative = -np.ones((7, 5))
  assert da.reversal_point(negative, AXIS) == pytest.approx(AXIS[-1])
  assert da.reversal_point(
      negative, AXIS, edge_insets=da.PAPER_EDGE_INSETS
  ) == pytest.approx(AXIS[-1] - 0.1)
  assert da.reversal_point(-negative, AXIS) == pytest.approx(AXIS[0])
  assert np.isnan(da.reversal_point(np.full((7, 5), np.nan), AXIS))


# --------------------------------------------------------------------------- asymmetry


def test_asymmetry_recovers_planted_tau_and_its_standard_error():
  rng = np.random.default_rng(3)
  reversal, tau = 0.2, 0.75
  cells = np.stack(
      [
          planted_cell(rng, reversal, 4 * tau, 4 * (1 - tau), noise=2.0)
          for _ in range(300)
      ]
  )
  est = da.asymmetries(cells, AXIS, np.full(300, reversal))
  chex.assert_shape(est.tau, (300,))
  assert np.mean(est.tau) == pytest.approx(tau, abs=0.01)
  # The delta-method SE matches the spread of tau over repeated experiments.
  assert np.mean(est.tau_se) == pytest.approx(np.std(est.tau), rel=0.2)
  single = da.asymmetry(cells[0], AXIS, reversal)
  assert abs(single.tau - tau) < 4 * single.tau_se
  assert single.beta_plus == pytest.approx(3.0, rel=0.1)
  assert single.beta_minus == pytest.approx(1.0, rel=0.1)


def test_asymmetry_with_estimated_reversal_point():
  rng = np.random.default_rng(4)
  # Reversal planted mid-gap; no level is ambiguous in sign, so the estimator puts it
  # mid-gap too and tau comes out as planted.  (A reversal planted elsewhere inside a
  # gap cannot be located from signs alone, which biases tau: a property of the method.)
  responses = planted_cell(rng, 2.3, 0.6, 1.4, noise=0.5)
  reversal = da.reversal_point(responses, AXIS)
  assert reversal == pytest.approx(2.3)
  assert da.asymmetry(responses, AXIS, reversal).tau == pytest.approx(
      0.3, abs=0.05
  )


def test_asymmetry_degenerate_cases_are_nan():
  responses = -np.abs(planted_cell(np.random.default_rng(5), 0.0, 1.0, 1.0))
  est = da.asymmetry(responses, AXIS, AXIS[-1])  # nothing above the top level
  assert np.isnan(est.tau) and np.isnan(est.beta_plus) and np.isnan(est.tau_se)
  assert np.isfinite(est.beta_minus)
  one_trial = np.full((7, 3), np.nan)
  one_trial[0, 0], one_trial[6, 0] = -1.0, 1.0
  est = da.asymmetry(one_trial, AXIS, 0.0)
  assert np.isfinite(est.tau) and np.isnan(
      est.tau_se
  )  # slope from one trial: no SE


# --------------------------------------------------------------------------- split halves


def test_pearson_with_pvalue_matches_scipy_and_drops_nans():
  rng = np.random.default_rng(6)
  x, y = rng.standard_normal((2, 3, 25))
  y = y + x
  x[1, 3] = np.nan
  r, p, n = da.pearson_with_pvalue(x, y)
  for i in range(3):
    ok = np.isfinite(x[i])
    ref = scipy.stats.pearsonr(x[i][ok], y[i][ok])
    assert r[i] == pytest.approx(ref.statistic) and p[i] == pytest.approx(
        ref.pvalue
    )
  assert list(n) == [25, 24, 25]


def test_split_half_distributional_versus_classical_population():
  rng = np.random.default_rng(7)
  taus = rng.uniform(0.15, 0.85, 30)
  # Distributional TD: reversal points spread and ordered by asymmetry.
  reversals = np.interp(taus, [0.15, 0.85], [-2.5, 5.0])
  dist = da.split_half_analysis(
      planted_population(rng, reversals, taus), AXIS, num_splits=100, seed=0
  )
  chex.assert_shape(
      [dist.reliability_r, dist.asymmetry_reversal_p], [(100,), (100,)]
  )
  chex.assert_shape([dist.reversal_a, dist.tau_a], [(100, 30), (100, 30)])
  assert dist.median_reliability_r > 0.8
  assert (
      dist.median_asymmetry_reversal_r > 0.5
      and dist.median_asymmetry_reversal_p < 0.01
  )
  # Classical TD: identical cells (one reversal point, symmetric scaling) plus noise.
  classical = da.split_half_analysis(
      planted_population(rng, np.full(30, 1.0), np.full(30, 0.5)),
      AXIS,
      num_splits=100,
      seed=0,
  )
  assert abs(classical.median_reliability_r) < 0.4
  assert abs(classical.median_asymmetry_reversal_r) < 0.4


def test_split_half_halves_partition_the_trials():
  rng = np.random.default_rng(8)
  valid = rng.random((5, 7, 30)) < 0.7
  mask = da_statistics._random_half_masks(valid, 20, rng)
  assert not np.any(mask & ~valid[None])
  np.testing.assert_array_equal(
      mask.sum(-1), np.broadcast_to(valid.sum(-1) // 2, (20, 5, 7))
  )


# --------------------------------------------------------------------------- utility mapping


def test_utility_microlitre_mapping_round_trip_and_ends():
  mags = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])
  np.testing.assert_allclose(da.utility_to_microlitres(AXIS, AXIS, mags), mags)
  u = np.linspace(-5.0, 10.0, 41)
  np.testing.assert_allclose(
      da.microlitres_to_utility(
          da.utility_to_microlitres(u, AXIS, mags), AXIS, mags
      ),
      u,
  )
  # Linear extrapolation with the last segment's slope, or clipping.
  assert da.utility_to_microlitres(AXIS[-1] + 1.0, AXIS, mags) == pytest.approx(
      20.0 + 10.0 / 3.9
  )
  assert da.utility_to_microlitres(
      AXIS[-1] + 1.0, AXIS, mags, extrapolate=False
  ) == pytest.approx(20.0)
  assert np.isnan(da.utility_to_microlitres(np.nan, AXIS, mags))


# --------------------------------------------------------------------------- distributions


def test_expectiles_of_distribution_closed_forms():
  values, probs = np.array([0.0, 1.0, 4.0, 10.0]), np.array(
      [0.1, 0.4, 0.3, 0.2]
  )
  taus = np.linspace(0.0, 1.0, 51)
  e = da.expectiles_of_distribution(values, probs, taus)
  assert e[25] == pytest.approx(np.sum(values * probs))  # tau = 0.5: the mean
  assert e[0] == pytest.approx(0.0) and e[-1] == pytest.approx(10.0)
  assert np.all(np.diff(e) > 0)
  # First-order condition tau E[(Z-e)+] = (1-tau) E[(e-Z)+] holds exactly.
  t, ee = taus[1:-1], e[1:-1, None]
  foc = t * (probs * np.maximum(values - ee, 0)).sum(1) - (1 - t) * (
      probs * np.maximum(ee - values, 0)
  ).sum(1)
  np.testing.assert_allclose(foc, 0.0, atol=1e-12)
  # Two-point distribution {0, 1} with P(1) = p: e_tau = tau p / (tau p + (1 - tau)(1 - p)).
  p, tau = 0.3, np.array([0.2, 0.7, 0.9])
  np.testing.assert_allclose(
      da.expectiles_of_distribution([0.0, 1.0], [1 - p, p], tau),
      tau * p / (tau * p + (1 - tau) * (1 - p)),
  )


def test_expectiles_of_gaussian_samples_are_symmetric():
  z = np.random.default_rng(9).standard_normal(20001)
  z = np.concatenate([z, -z])  # exactly symmetric about 0
  taus = np.array([0.05, 0.2, 0.4])
  chex.assert_trees_all_close(
      da.expectiles_of_distribution(z, None, taus),
      -da.expectiles_of_distribution(z, None, 1 - taus),
      atol=1e-9,
  )
  # The 0.5-expectile of N(0,1) is 0; the 0.9-expectile is about 0.8616.
  assert da.expectiles_of_distribution(z, None, 0.9) == pytest.approx(
      0.8616, abs=0.02
  )


def test_quantiles_of_distribution():
  values, probs = np.array([3.0, 1.0, 2.0]), np.array([0.5, 0.25, 0.25])
  np.testing.assert_allclose(
      da.quantiles_of_distribution(
          values, probs, [0.1, 0.25, 0.3, 0.5, 0.51, 1.0]
      ),
      [1, 1, 2, 2, 3, 3],
  )


def test_wasserstein1_sanity():
  assert da.wasserstein1([0.0], None, [2.5], None) == pytest.approx(2.5)
  z = np.random.default_rng(10).standard_normal(500)
  assert da.wasserstein1(z, None, z + 0.7, None) == pytest.approx(0.7)
  a, wa, b, wb = [0.0, 1.0], [0.5, 0.5], [0.0, 3.0], [0.2, 0.8]
  assert da.wasserstein1(a, wa, b, wb) == pytest.approx(
      da.wasserstein1(b, wb, a, wa)
  )
  assert da.wasserstein1(a, wa, b, wb) == pytest.approx(
      scipy.stats.wasserstein_distance(a, b, wa, wb)
  )


def test_baselines():
  values, probs = da.TRUE_MAGNITUDES_UL, da.TRUE_PROBABILITIES
  base = da.baseline_distributions(values, probs)
  assert set(base) == {"gaussian", "uniform", "point_mass"}
  mean = np.sum(values * probs) / probs.sum()
  gv, gw = base["gaussian"]
  assert np.sum(gv * gw) == pytest.approx(mean, abs=1e-6)
  w1 = da.baseline_wasserstein_distances(values, probs)
  assert w1["point_mass"] == pytest.approx(
      np.sum(probs * np.abs(values - mean)) / probs.sum()
  )
  assert (
      min(w1.values()) > 1.0
  )  # none of them is close to this skewed, multimodal distribution
  # The continuous baselines' W1 is exact; their fine quantile versions converge to it.
  fine = da.baseline_distributions(values, probs, num_points=200_000)
  for name in ("gaussian", "uniform"):
    assert w1[name] == pytest.approx(
        da.wasserstein1(*fine[name], values, probs), abs=1e-5
    )


def test_baseline_wasserstein_closed_forms():
  # Uniform on [0, 1] vs its own endpoints {0, 1} (equal mass): 1/4; vs a point at 1/2: 1/4.
  assert da.baseline_wasserstein_distances([0.0, 1.0], None)[
      "uniform"
  ] == pytest.approx(0.25)
  # N(0, 1) vs a point mass at its mean: E|Z| = sqrt(2 / pi).
  gaussian = da_statistics._w1_continuous_to_discrete(
      scipy.stats.norm(0.0, 1.0), np.array([0.0]), np.array([1.0])
  )
  assert gaussian == pytest.approx(np.sqrt(2.0 / np.pi), abs=1e-9)


# --------------------------------------------------------------------------- imputation


def test_imputation_recovers_a_bimodal_distribution():
  values, probs = np.array([0.0, 1.0, 2.0, 8.0, 9.0, 10.0]), np.array(
      [0.2, 0.2, 0.1, 0.1, 0.2, 0.2]
  )
  taus = np.linspace(0.02, 0.98, 30)
  expectiles = da.expectiles_of_distribution(values, probs, taus)
  result = da.impute_expectile_samples(
      taus, expectiles, num_samples=100, key=0, num_restarts=8, steps=2000
  )
  chex.assert_shape(result.samples, (100,))
  assert result.loss < 1e-3
  np.testing.assert_allclose(
      da.expectiles_of_distribution(result.samples, None, taus),
      expectiles,
      atol=0.1,
  )
  w1 = da.wasserstein1(result.samples, None, values, probs)
  baselines = da.baseline_wasserstein_distances(values, probs)
  assert w1 < 0.5 and all(w1 < 0.25 * b for b in baselines.values())


def test_pooled_imputation_recovers_a_bimodal_distribution():
  # The paper's way (decode_reward_distribution's defaults): 10 runs of 100 samples, each from
  # the best of 1000 random sets over the bounds, pooled.
  values, probs = np.array([0.0, 1.0, 2.0, 8.0, 9.0, 10.0]), np.array(
      [0.2, 0.2, 0.1, 0.1, 0.2, 0.2]
  )
  taus = np.linspace(0.02, 0.98, 30)
  expectiles = da.expectiles_of_distribution(values, probs, taus)
  kwargs = dict(
      num_samples=100,
      num_restarts=10,
      num_candidates=1000,
      bounds=(0.0, 10.0),
      pool=True,
  )
  result = da.impute_expectile_samples(taus, expectiles, key=0, **kwargs)
  chex.assert_shape(result.samples, (10 * 100,))  # 10 runs pooled
  assert (
      np.all(np.diff(result.samples) >= 0)
      and result.samples.min() >= 0.0
      and result.samples.max() <= 10.0
  )
  # The pool's expectiles match the targets; its loss is the loss of the pooled samples.
  np.testing.assert_allclose(
      da.expectiles_of_distribution(result.samples, None, taus),
      expectiles,
      atol=0.05,
  )
  assert result.loss == pytest.approx(
      float(da.expectile_imputation_loss(result.samples, taus, expectiles)),
      rel=1e-4,
  )
  assert result.loss < 1e-3
  w1 = da.wasserstein1(result.samples, None, values, probs)
  assert w1 < 0.4 and all(
      w1 < 0.25 * b
      for b in da.baseline_wasserstein_distances(values, probs).values()
  )
  # Deterministic given the key; a JAX key works like an int seed; the best run is one of the pooled runs.
  again = da.impute_expectile_samples(taus, expectiles, key=0, **kwargs)
  np.testing.assert_array_equal(result.samples, again.samples)
  best = da.impute_expectile_samples(
      taus, expectiles, key=0, **dict(kwargs, pool=False)
  )
  chex.assert_shape(best.samples, (100,))
  assert np.all(np.isin(best.samples, result.samples))
  keyed = da.impute_expectile_samples(
      taus,
      expectiles,
      20,
      jax.random.key(3),
      num_restarts=2,
      pool=True,
      steps=200,
  )
  chex.assert_shape(keyed.samples, (40,))


def test_tnc_imputation_cross_check():
  # The literal port of the paper's optimiser agrees with the JAX decoding on a known distribution.
  values, probs = np.array([0.0, 1.0, 2.0, 8.0, 9.0, 10.0]), np.array(
      [0.2, 0.2, 0.1, 0.1, 0.2, 0.2]
  )
  taus = np.linspace(0.02, 0.98, 30)
  expectiles = da.expectiles_of_distribution(values, probs, taus)
  result = da.impute_expectile_samples_tnc(
      taus,
      expectiles,
      num_samples=100,
      key=0,
      num_restarts=3,
      bounds=(0.0, 10.0),
  )
  chex.assert_shape(result.samples, (3 * 100,))
  assert (
      np.all(np.diff(result.samples) >= 0)
      and result.samples.min() >= 0.0
      and result.samples.max() <= 10.0
  )
  np.testing.assert_allclose(
      da.expectiles_of_distribution(result.samples, None, taus),
      expectiles,
      atol=0.1,
  )
  assert da.wasserstein1(result.samples, None, values, probs) < 0.4
  keyed = da.impute_expectile_samples_tnc(
      taus, expectiles, 20, jax.random.key(3), num_restarts=2, bounds=None
  )
  chex.assert_shape(keyed.samples, (40,))


def test_imputation_checks_and_tau_ends():
  # tau in {0, 1} are the minimum and the maximum: accepted (the paper clips taus to [0, 1]).
  for impute in (da.impute_expectile_samples, da.impute_expectile_samples_tnc):
    result = impute(
        [0.0, 0.5, 1.0],
        [1.0, 3.0, 6.0],
        20,
        key=1,
        num_restarts=3,
        num_candidates=200,
        bounds=(1.0, None),
        **(
            {"pool": True, "steps": 300}
            if impute is da.impute_expectile_samples
            else {}
        ),
    )
    assert result.samples.min() >= 1.0 and result.samples.size == 60
    with pytest.raises(ValueError):
      impute([0.5, 1.2], [1.0, 2.0])
    with pytest.raises(ValueError):
      impute([0.5, 0.6], [1.0, 2.0], bounds=(2.0, 1.0))
  # decode_reward_distribution: tau_clip=0 keeps a cell with tau 1.02 (at 1), without it the cell drops.
  taus, reversals = np.array([0.2, 0.5, 1.02, np.nan]), np.array(
      [2.0, 5.0, 19.0, 4.0]
  )
  common = dict(
      num_samples=20,
      key=0,
      num_restarts=2,
      num_candidates=50,
      bounds=(0.1, 20.0),
  )
  imputed, used = da.decode_reward_distribution(
      taus, reversals, tau_clip=0.0, steps=200, **common
  )
  assert (
      list(used) == [True, True, True, False] and imputed.samples.size == 40
  )  # runs pooled
  _, used = da.decode_reward_distribution(taus, reversals, steps=200, **common)
  assert list(used) == [True, True, False, False]
  imputed, used = da.decode_reward_distribution(
      taus, reversals, tau_clip=0.0, method="tnc", **common
  )
  assert list(used) == [True, True, True, False] and imputed.samples.size == 40
  with pytest.raises(ValueError):
    da.decode_reward_distribution(taus, reversals, method="lbfgs")


def test_imputation_respects_bounds():
  taus = np.array([0.1, 0.5, 0.9])
  expectiles = da.expectiles_of_distribution([1.0, 2.0, 6.0], None, taus)
  for bounds in [(1.0, 6.0), (1.0, None), (None, 6.0)]:
    for pool in (False, True):
      samples = da.impute_expectile_samples(
          taus,
          expectiles,
          50,
          key=1,
          num_restarts=4,
          bounds=bounds,
          steps=500,
          pool=pool,
      ).samples
      assert np.all(samples >= 1.0) if bounds[0] is not None else True
      assert np.all(samples <= 6.0) if bounds[1] is not None else True
  with pytest.raises(ValueError):
    da.impute_expectile_samples([0.5, 1.2], [1.0, 2.0])


# --------------------------------------------------------------------------- probability cues


def test_classify_probability_cue_units():
  rng = np.random.default_rng(11)
  n = 40
  r10 = rng.normal(0.0, 1.0, (4, n))
  r90 = rng.normal(4.0, 1.0, (4, n))
  r50 = np.stack([rng.normal(m, 1.0, n) for m in (4.0, 0.0, 2.0, 2.1)])
  r50[3, 30:] = np.nan  # NaN padding is ignored
  result = da.classify_probability_cue_units(r50, r10, r90)
  assert list(result.labels) == [
      "optimistic",
      "pessimistic",
      "interpolating",
      "interpolating",
  ]
  assert result.p[0] < 1e-6 and result.contrast[1] < 0
  single = da.classify_probability_cue_units(r50[0], r10[0], r90[0])
  assert single.labels[0] == "optimistic"
  assert (
      da.classify_probability_cue_units(r50[:1, :1], r10[:1], r90[:1]).labels[0]
      == "undetermined"
  )


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def recordings_analysis():
  if not DATA_PATH.exists():
    pytest.skip(f"variable-magnitude recordings not found at {DATA_PATH}")
  # All 40 cells, as the paper decoded them (end caps, taus clipped to [0, 1]).
  return da.analyse_recordings(
      DATA_PATH,
      num_splits=100,
      seed=0,
      paper_variants=False,
      decode_all_cells=True,
  )


def test_recordings_pipeline(recordings_analysis):
  res = recordings_analysis
  s = res.summary
  assert s["num_cells"] == 40 and s["num_trials"] == 8877
  assert s["split_half_reversal_r_median"] > 0.5
  assert s["split_half_reversal_p_median"] < 0.05
  assert s["asymmetry_vs_reversal_r_median"] > 0.3
  assert s["w1_decoded_ul"] < s["w1_uniform_ul"]
  assert s["w1_decoded_ul"] < s["w1_point_mass_ul"]
  rows = res.cell_rows()
  assert len(rows) == 40 and {
      "reversal_ul",
      "tau",
      "tau_se",
      "used_in_decoding",
  } <= set(rows[0])
  assert s["num_cells_decoded"] == 40 and s["decoded_cells"] == "all_cells"
  reversal_ul = res.cells["reversal_ul"]
  assert np.all((reversal_ul >= 0.1 - 1e-6) & (reversal_ul <= 20.0 + 1e-6))
  assert np.all((res.decoded_samples >= 0.1) & (res.decoded_samples <= 20.0))
  # Our reversal points agree with the ones behind the file's per-cell axis.
  assert s["r_reversal_vs_stored"] > 0.9
  # Cell 19 (negative at every size) has no reversal point inside the reward
  # range and is left out of the headline split halves, as in the paper's
  # Figure 5 data; the test loses some of its strength without it.
  assert s["excluded_cells"] == "19" and s["num_cells_without_end_cells"] == 39
  assert list(res.cells_inside_range) == [i for i in range(40) if i != 19]
  headline = res.split_halves["without_end_cells"]
  assert headline.tau_a.shape == (100, 39)
  assert 0.3 < s["asymmetry_vs_reversal_r_median_without_end_cells"] < 0.53
  assert 0.6 < s["split_half_reversal_r_median_without_end_cells"] < 0.78
  # The paper's 7-fold SEM is larger than the delta-method SE (the fold's
  # own reversal point adds its noise to tau's).
  assert s["tau_sem_7fold_over_delta_se_median"] > 1.2
  assert np.isfinite(res.cells["tau_sem_7fold"]).sum() == 40


def test_recordings_decoding_beats_matched_gaussian(recordings_analysis):
  """The paper's comparison: the distribution decoded from the 40 cells' (tau, reversal
  point) pairs by the paper's imputation is closer (W1, microlitres) to the true reward
  distribution than the Gaussian with the true mean and variance, the uniform and the
  point mass at the mean -- for each of several imputation seeds, not one lucky draw.
  This is a property of the decoding, not evidence for a distributional code:
  classical-TD pairs with noise decode below the Gaussian too (the discriminating
  comparison is the null of agents.analysis.dopamine.nulls).
  """
  res = recordings_analysis
  s, cells = res.summary, res.cells
  baselines = [s["w1_gaussian_ul"], s["w1_uniform_ul"], s["w1_point_mass_ul"]]
  assert s["w1_gaussian_ul"] == pytest.approx(1.8618, abs=1e-3)
  assert s["w1_decoded_ul"] < min(baselines)
  bounds = (float(res.true_values.min()), float(res.true_values.max()))
  for k in range(5):
    imputed, used = da.decode_reward_distribution(
        cells["tau_capped"],
        cells["reversal_ul_capped"],
        key=jax.random.fold_in(jax.random.key(1), k),
        bounds=bounds,
        tau_clip=da.DECODING_TAU_CLIP,
    )
    assert (
        used.sum() == 40 and imputed.samples.size == 10 * 100
    )  # 10 runs of 100 samples, pooled
    assert da.wasserstein1(
        imputed.samples, None, res.true_values, res.true_probs
    ) < min(baselines)
