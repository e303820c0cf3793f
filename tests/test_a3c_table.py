"""agents/analysis/a3c_table.py and scripts/reproduce_a3c.py without
training: threshold crossings, speed-ups, the table, bad input."""

import numpy as np
import pytest
from absl import flags

from agents.analysis import a3c_table
from agents.runtime.errors import UserError
from scripts import reproduce_a3c


def test_first_crossing_and_never():
  steps = [100, 200, 300]
  assert a3c_table.first_crossing(steps, [0.1, 0.9, 0.5], 0.8) == 200.0
  assert a3c_table.first_crossing(steps, [0.1, 0.2, 0.5], 0.8) is None


def _curves(returns, seconds):
  return dict(env_steps=[100, 200, 300], returns=returns, seconds=seconds)


def test_analyse_speedups_and_table():
  cells = {}
  # K=1 reaches 0.8 at 300 steps on both seeds, K=2 at 100 and never.
  cells[1] = a3c_table.analyse(
      _curves([[0, 0, 1], [0, 0, 1]], [[1, 2, 3], [1, 2, 3]]), "catch"
  )
  cells[2] = a3c_table.analyse(
      _curves([[1, 1, 1], [0, 0, 0]], [[0.5, 1, 1.5], [0.5, 1, 1.5]]), "catch"
  )
  assert cells[2]["steps"]["reached"] == 1
  assert cells[2]["steps"]["per_seed"] == [100.0, None]
  ratios = a3c_table.speedups(cells, "steps")
  assert ratios == {1: 1.0, 2: 3.0}
  assert a3c_table.speedups(cells, "seconds")[2] == 6.0
  for k in cells:
    cells[k]["steps_speedup"] = ratios[k]
    cells[k]["ideal_speedup"] = k * ratios[k]
    cells[k]["curves"] = _curves([[0, 0, 1]], [[1, 2, 3]])
  summary = dict(
      data_efficiency={"catch": {"a3c": cells}}, wall_clock={}, actors=[1, 2]
  )
  summary["stability"] = a3c_table.stability(summary)
  table = a3c_table.format_table(summary)
  assert "3.00x" in table and "6.00x" in table and "(1/2)" in table
  assert "a3c 12.5x" in table


def _flags(*argv):
  fv = flags.FlagValues()
  holders = reproduce_a3c.define_flags(fv)
  fv(["prog", *argv])
  return holders


@pytest.mark.parametrize(
    "argv, word",
    [
        (["--algorithms=dqn"], "--algorithms"),
        (["--envs=pong"], "--envs"),
        (["--actors=2,4"], "--actors"),
        (["--actors=1,x"], "--actors"),
        (["--seeds=0"], "--seeds"),
    ],
)
def test_bad_input_is_a_user_error(argv, word, tmp_path):
  flag = _flags(f"--workdir={tmp_path}/w", *argv)
  with pytest.raises(UserError, match=word):
    reproduce_a3c.run(flag, check_only=True)
  assert not (tmp_path / "w").exists()


def test_quick_settings(tmp_path):
  args = reproduce_a3c.check_inputs(_flags(f"--workdir={tmp_path}", "--quick"))
  assert args["envs"] == ("catch",) and args["actors"] == (1, 2)
  assert np.all(np.asarray(args["seeds"]) == 2)
