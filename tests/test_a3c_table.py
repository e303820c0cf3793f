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


class _FakeLoop:
  """A loop whose greedy return after segment s is returns[seed][s]."""

  env_steps_per_segment = 100

  def __init__(self, returns):
    self.returns = np.asarray(returns, float)
    self.segments = 0
    self.closed = False

  def init(self, seeds):
    self.seeds = seeds
    return 0

  def prepare(self, state):
    del state
    return True

  def run_segment(self, state):
    self.segments += 1
    return state + 1, {}

  def evaluate(self, state, key, episodes):
    del key
    column = self.returns[self.seeds, state - 1][:, None]
    return np.repeat(column, episodes, 1), np.ones((len(self.seeds), 1))

  def close(self):
    self.closed = True


def _run_fake(returns, groups, stop_at):
  from concurrent import futures  # pylint: disable=g-import-not-at-top

  config = a3c_table.make_config("a3c", "catch", 1, "hogwild", 1, 500, 2)
  loop = _FakeLoop(returns)
  prepared = futures.Future()
  prepared.set_result((loop, loop.init(groups[0]), 0.0))
  return loop, a3c_table.run_curves(config, groups, stop_at, prepared)


def test_wall_clock_runs_stop_at_the_first_crossing():
  returns = [[0.0, 0.9, 0.5, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0]]
  loop, curves = _run_fake(returns, [[0], [1]], stop_at=0.8)
  # Seed 0 stops after segment 2 (its crossing); seed 1 never crosses.
  assert [len(r) for r in curves["returns"]] == [2, 5]
  assert loop.segments == 7 and loop.closed
  cell = a3c_table.analyse(curves, "catch")
  assert cell["steps"]["per_seed"] == [200.0, None]
  # Without stop_at every seed runs the whole budget: the same crossing.
  _, full = _run_fake(returns, [[0], [1]], stop_at=None)
  assert [len(r) for r in full["returns"]] == [5, 5]
  assert a3c_table.analyse(full, "catch")["steps"] == cell["steps"]


def test_table_footer_says_how_long_it_took():
  summary = dict(
      data_efficiency={},
      wall_clock={},
      actors=[1],
      seconds=125.0,
      cpu_seconds=200.0,
      part_seconds=dict(
          data_efficiency=dict(wall=100.0, compile=150.0, run=20.0)
      ),
  )
  table = a3c_table.format_table(summary)
  assert "took 125 s (2.1 min) wall, 200 s CPU" in table
  assert "data_efficiency 100 s: 150 s building and compiling" in table
