"""Tests of agents/analysis/wang2018_units.py (Wang et al. 2018 Fig. 2): the
unit regression finds exactly the synthetic units that code a known
regressor, its standard errors are statsmodels' cluster-robust ones, and the
decoder's held-out accuracy is the one the synthetic code allows."""

import jax
import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from agents.analysis import figures
from agents.analysis import seed_stats
from agents.runtime import workdir as workdir_lib
from agents.analysis import wang2018_units as units
from tests import test_wang2018_rows as rows

N, L, K = 200, 40, 5


def _history(seed=0):
  rng = np.random.default_rng(seed)
  actions = rng.integers(0, 2, (N, L))
  rewards = rng.integers(0, 2, (N, L)).astype(np.float32)
  return rng, actions, rewards


def test_history_regressors_are_the_lagged_codes():
  actions = np.array([[0, 1, 1, 0, 1]])
  rewards = np.array([[1.0, 0.0, 1.0, 1.0, 0.0]])
  h = units.history_regressors(actions, rewards, lags=2)
  # Trials t = 2, 3, 4; lag 1 is trial t - 1, lag 2 trial t - 2.
  np.testing.assert_array_equal(h["action"][0, :, 0], [1, 1, -1])
  np.testing.assert_array_equal(h["action"][0, :, 1], [-1, 1, 1])
  np.testing.assert_array_equal(h["reward"][0, :, 0], [-1, 1, 1])
  np.testing.assert_array_equal(
      h["action_x_reward"][0, :, 1], h["action"][0, :, 1] * [1, -1, 1]
  )


def test_holm_rejects_in_order_until_the_first_failure():
  p = np.array([0.01, 0.04, 0.03, 0.005])
  # Sorted: 0.005 <= .05/4, 0.01 <= .05/3, 0.03 > .05/2: stop.
  np.testing.assert_array_equal(
      units.holm_reject(p, 0.05), [True, False, False, True]
  )


def test_regression_detects_exactly_the_coding_units():
  rng, actions, rewards = _history()
  h = units.history_regressors(actions, rewards, K)
  u = 40
  # Unit noise with a per-episode offset (rows of an episode are dependent).
  activity = rng.normal(size=(N, L, u)) + rng.normal(size=(N, 1, u))
  activity[:, K:, 0:10] += 0.3 * h["action"][..., 0:1]  # action, lag 1
  activity[:, K:, 10:16] += 0.3 * h["reward"][..., 1:2]  # reward, lag 2
  activity[:, K:, 16:24] += 0.3 * h["action_x_reward"][..., 2:3]  # lag 3
  result = units.unit_regression(activity, actions, rewards, K)
  expected = {name: np.zeros(K) for name in units.REGRESSORS}
  expected["action"][0] = 10 / u
  expected["reward"][1] = 6 / u
  expected["action_x_reward"][2] = 8 / u
  for name in units.REGRESSORS:
    np.testing.assert_allclose(
        result["fraction_coding"][name], expected[name], err_msg=name
    )
  coding = result["coding"]["action"][:, 0]
  np.testing.assert_array_equal(np.nonzero(coding)[0], np.arange(10))
  np.testing.assert_allclose(
      result["coefficients"]["reward"][10:16, 1], 0.3, atol=0.05
  )


def test_standard_errors_are_cluster_robust_by_episode():
  rng, actions, rewards = _history(1)
  activity = rng.normal(size=(N, L, 2)) + rng.normal(size=(N, 1, 2))
  result = units.unit_regression(activity, actions, rewards, K)
  design = units._design(actions, rewards, K).reshape(-1, 2 + 3 * K)
  groups = np.repeat(np.arange(N), L - K)
  fit = sm.OLS(activity[:, K:, 1].ravel(), design).fit(
      cov_type="cluster", cov_kwds=dict(groups=groups)
  )
  se = result["coefficients"]["reward"][1] / result["t"]["reward"][1]
  np.testing.assert_allclose(se, fit.bse[2 + K : 2 + 2 * K], rtol=1e-6)


def test_null_units_are_not_called_coding():
  rng, actions, rewards = _history(2)
  activity = rng.normal(size=(N, L, 48))
  result = units.unit_regression(activity, actions, rewards, K)
  total = sum(result["coding"][n].sum() for n in units.REGRESSORS)
  assert total <= 1  # family-wise error 0.05 over 48 x 15 tests


def test_decoder_reaches_the_accuracy_the_code_allows():
  rng, actions, rewards = _history(3)
  h = units.history_regressors(actions, rewards, K)
  m, beta = 10, 0.25
  activity = rng.normal(size=(N, L, 20))
  activity[:, K:, :m] += beta * h["reward"][..., 0:1]  # reward, lag 1 only
  result = units.decode_history(activity, actions, rewards, K)
  # The ideal linear readout of m units: Phi(beta sqrt(m)).
  ideal = stats.norm.cdf(beta * np.sqrt(m))
  accuracy = result["accuracy"]["reward"]
  assert accuracy[0] == pytest.approx(ideal, abs=0.02)
  for name in units.REGRESSORS:
    others = accuracy[1:] if name == "reward" else result["accuracy"][name]
    chance = (
        result["chance"][name][1:]
        if name == "reward"
        else result["chance"][name]
    )
    np.testing.assert_allclose(others, chance, atol=0.03, err_msg=name)


@pytest.mark.slow  # compiles a recorded rollout
def test_units_row_end_to_end(tmp_path):
  _, agent, env, params = rows._untrained("bandit_independent")
  result = units.units_experiment(
      agent,
      env,
      params,
      jax.random.PRNGKey(0),
      20,
      lags=3,
      untrained_params_per_seed=params[::-1],
  )
  seed = result["per_seed"][0]
  assert seed["untrained"]["num_units"] == 8
  assert seed["num_units"] == 8 and seed["num_rows"] == 20 * 97
  assert len(seed["fraction_coding"]["reward"]) == 3
  result = workdir_lib.jsonable(result)
  result["across_seeds"] = seed_stats.across_seeds(result["per_seed"])
  assert "lag 3" in units.headline(result)
  assert "untrained control" in units.headline(result)
  writer = figures.FigureWriter(str(tmp_path))
  units.figure(writer, "units", result, {})
  assert writer.written == ["units_units.png"]
