"""scripts/reproduce_naf.py and agents/analysis/naf2016.py: flags, skipped
tasks, the numbers of a run (steps to threshold, final returns) and its
files, on a tiny budget."""

import json

import numpy as np
import pytest
from absl import flags

from agents.analysis import naf2016
from agents.runtime.errors import UserError
from scripts import reproduce_naf


def _flags(*argv):
  fv = flags.FlagValues()
  holders = reproduce_naf.define_flags(fv)
  fv(["prog", *argv])
  return holders


@pytest.mark.parametrize(
    "argv, word",
    [
        (["--tasks=pong"], "--tasks"),
        (["--tasks="], "--tasks"),
        (["--seeds=0"], "--seeds"),
        (["--eval_episodes=0"], "--eval_episodes"),
        (["--total_env_steps=0"], "--total_env_steps"),
        (["--eval_every_env_steps=0"], "--eval_every_env_steps"),
        (["--first_seed=-1"], "--first_seed"),
    ],
)
def test_bad_flags_are_refused_before_the_workdir_is_made(argv, word, tmp_path):
  flag = _flags(f"--workdir={tmp_path}/w", *argv)
  with pytest.raises(UserError, match=word):
    reproduce_naf.run(flag, check_only=True)
  assert not (tmp_path / "w").exists()


def test_analyse_steps_to_threshold_and_final_returns():
  curves = dict(
      env_steps=[1000, 2000, 3000],
      returns=[[-900.0, -190.0, -150.0], [-900.0, -800.0, -700.0]],
  )
  cell = naf2016.analyse(curves, "pendulum")
  assert cell["steps_to_threshold"]["per_seed"] == [2000.0, None]
  assert cell["steps_to_threshold"]["reached"] == 1
  assert cell["final_return"]["per_seed"] == [-150.0, -700.0]
  assert cell["final_return"]["mean"] == pytest.approx(-425.0)
  assert cell["final_solved"] == 1


def test_variants_are_config_overrides():
  variant = naf2016.Variant("naf_ou", "naf", dict(exploration_noise="ou"))
  config = naf2016.make_config(
      variant, "pendulum", seeds=3, eval_episodes=7, total_env_steps=500
  )
  assert config.agent == "naf" and config.exploration_noise == "ou"
  assert (config.num_seeds, config.eval_episodes) == (3, 7)
  assert config.log_every_env_steps == 500
  config = naf2016.make_config(
      variant,
      "pendulum",
      seeds=3,
      eval_episodes=7,
      total_env_steps=500,
      eval_every_env_steps=100,
  )
  assert config.log_every_env_steps == 100


@pytest.mark.slow
def test_a_tiny_run_writes_every_seed_and_the_figure(tmp_path):
  lines = []
  # a Control Suite task only where it cannot be built (to see it skipped)
  skip = naf2016.unavailable("cartpole_swingup") is not None
  table = naf2016.run_reproduction(
      str(tmp_path),
      tasks=("pendulum", "cartpole_swingup") if skip else ("pendulum",),
      seeds=2,
      eval_episodes=2,
      total_env_steps=512,
      first_seed=3,
      log=lines.append,
  )
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert summary["seeds"] == [3, 4]
  for name in ("naf", "ddpg"):
    cell = summary["tasks"]["pendulum"][name]
    assert len(cell["final_return"]["per_seed"]) == 2
    assert np.asarray(cell["curves"]["returns"]).shape[0] == 2
  assert (tmp_path / "curves_pendulum.png").stat().st_size > 0
  assert "naf" in table and "ddpg" in table
  # a progress line per segment of each run
  assert any(l.startswith("[naf] pendulum ddpg: segment 1/") for l in lines)
  if skip:
    assert "cartpole_swingup" in summary["skipped"]
    assert any("skipping cartpole_swingup" in l for l in lines)
