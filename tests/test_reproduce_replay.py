"""scripts/reproduce_replay: the experiment registry, bad input, a quick run."""

import json
import os

import pytest

from agents.analysis import planning
from agents.analysis import replay_experiments
from agents.runtime.errors import UserError
from tests.conftest import run_script


def test_select_keeps_registry_order_and_rejects_unknown_names():
  assert replay_experiments.select(None) == list(replay_experiments.EXPERIMENTS)
  assert replay_experiments.select(["sweeping", "dyna_maze"]) == [
      "dyna_maze",
      "sweeping",
  ]
  with pytest.raises(UserError, match="unknown experiment.*'nope'"):
    replay_experiments.select(["dyna_maze", "nope"])


def test_scaled_layout_keeps_the_maze():
  text = planning.gridworld.read_layout_text("dyna_maze")
  big = planning.gridworld.parse_layout(planning.scaled_layout(text, 2))
  assert big.shape == (12, 18) and big.starts.sum() == 1
  assert int(big.walls.sum()) == 4 * 7  # the Dyna maze's 7 wall cells


def test_first_episode_below():
  assert planning.first_episode_below([50.0, 30.0, 19.0, 25.0], 20.0) == 3
  assert planning.first_episode_below([50.0, 30.0], 20.0) == 3


@pytest.mark.slow
def test_unknown_experiment_is_one_error_line_and_exit_2(tmp_path):
  proc = run_script(
      [
          "-m",
          "scripts.reproduce_replay",
          f"--workdir={tmp_path}",
          "--experiments=dyna_maze,nope",
      ]
  )
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: unknown experiment")


@pytest.mark.slow
def test_quick_run_writes_every_number_beside_its_anchor(tmp_path):
  names = list(replay_experiments.EXPERIMENTS)
  summary = replay_experiments.run_all(
      names, str(tmp_path), quick=True, progress=lambda line: None
  )
  with open(tmp_path / "summary.json") as f:
    written = json.load(f)
  assert set(written["experiments"]) == set(names)
  for name, result in written["experiments"].items():
    assert result["rows"], name
    for row in result["rows"]:
      assert set(row) == {"quantity", "measured", "anchor", "reproduced"}
    for figure in result["figures"]:
      assert os.path.getsize(figure) > 1000
  assert "n50" in written["experiments"]["dyna_maze"]["per_seed"]
  assert (
      len(
          written["experiments"]["sweeping"]["per_seed"]["resolution1"][
              "prioritized_sweeping"
          ]
      )
      == planning.QUICK.sweeping_runs
  )
  table = replay_experiments.table(summary)
  assert "about 25" in table and "5-10x fewer" in table
