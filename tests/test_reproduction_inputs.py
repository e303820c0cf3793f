"""Bad input to the reproduction scripts (reproduce_wang2018,
gap_distribution): one `error:` line, exit 2, nothing written."""

import os

import pytest

from agents.analysis import gap_distribution
from agents.analysis import wang2018
from agents.runtime.errors import UserError
from tests.conftest import run_script


@pytest.mark.parametrize("episodes", [0, -3])
def test_wang2018_needs_evaluation_episodes(tmp_path, episodes):
  with pytest.raises(UserError, match="--eval_episodes must be >= 1"):
    wang2018.run_reproduction(str(tmp_path / "w"), True, ["two_step"], episodes)
  assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    "tasks, message", [(["nosuch"], "unknown task"), ([], "no tasks given")]
)
def test_wang2018_tasks(tmp_path, tasks, message):
  with pytest.raises(UserError, match=message):
    wang2018.check_arguments(str(tmp_path), tasks, 10)


def test_wang2018_workdir(tmp_path):
  a_file = tmp_path / "file"
  a_file.write_text("x")
  for workdir, message in [
      (str(a_file), "not a directory"),
      ("", "empty"),
      ("/proc/wang2018", "cannot be created"),
  ]:
    with pytest.raises(UserError, match=message):
      wang2018.check_arguments(workdir, ["two_step"], 10)
  if os.geteuid() != 0:  # root writes anywhere
    read_only = tmp_path / "read_only"
    read_only.mkdir(mode=0o555)
    with pytest.raises(UserError, match="not writable"):
      wang2018.check_arguments(str(read_only), ["two_step"], 10)


@pytest.mark.parametrize(
    "agents, message",
    [
        (["nosuch"], "nosuch cannot be compared here"),
        (["a2c"], "a2c cannot be compared here"),
        (["qr_dqn", "meta_a2c"], "meta_a2c cannot be compared here"),
        ([], "--agents is empty"),
    ],
)
def test_gap_distribution_agents(tmp_path, agents, message):
  with pytest.raises(UserError, match=message):
    gap_distribution.run(str(tmp_path / "g"), agents)
  assert not (tmp_path / "g").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["-m", "scripts.reproduce_wang2018", "--eval_episodes=0"],
        ["-m", "scripts.reproduce_wang2018", "--workdir="],
        ["-m", "scripts.gap_distribution", "--agents=a2c"],
    ],
)
def test_scripts_print_one_error_line(tmp_path, args):
  if not any(a.startswith("--workdir") for a in args):
    args = args + [f"--workdir={tmp_path / 'out'}"]
  proc = run_script(args, timeout=300)
  assert proc.returncode == 2, proc.stdout + proc.stderr
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
  assert "Traceback" not in proc.stdout + proc.stderr
  assert not (tmp_path / "out").exists()
