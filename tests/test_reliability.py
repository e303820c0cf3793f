"""Regression tests of the reliability defects of issue 16: the workdir lock,
checkpoint recovery, config validation before anything is written, one-line
errors from every script, Ctrl-C / SIGTERM, `--help`, the Makefile's stamp."""

import hashlib
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib

import jax
import numpy as np
import pytest

from agents.runtime import checkpointing
from agents.runtime import config_schema
from agents.runtime import train
from agents.runtime import workdir as workdir_lib
from agents.runtime.errors import UserError
from configs import dqn
from tests.conftest import ROOT, popen_interruptible, run_script


def _digest(directory) -> dict[str, str]:
  """sha256 of every file under `directory` (the lock file aside)."""
  out = {}
  for dirpath, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(dirpath, name)
      if name == workdir_lib.LOCK_NAME:
        continue
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = hashlib.sha256(
            f.read()
        ).hexdigest()
  return out


def _error_lines(stderr: str) -> list[str]:
  return [l for l in stderr.splitlines() if l.startswith("error:")]


def _tiny_dqn(**overrides):
  c = dqn.get_config("catch")
  c.update(
      dict(
          total_env_steps=2048,
          log_every_env_steps=512,
          min_replay_size=64,
          eval_episodes=2,
      )
  )
  c.update(overrides)
  return c


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """One finished tiny run (4 segments, a checkpoint after each)."""
  workdir = tmp_path_factory.mktemp("trained") / "run"
  result = train.train(_tiny_dqn(), str(workdir), log=lambda _: None)
  return workdir, result


def _copy(trained_run, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(trained_run[0], workdir)
  return workdir


# ---- 1. the workdir lock -----------------------------------------------------

HOLD_LOCK = """
import sys, time
from agents.runtime import workdir
lock = workdir.WorkdirLock(sys.argv[1]); lock.acquire()
print("locked", flush=True)
time.sleep(600)
"""


def _hold_lock(directory):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  proc = subprocess.Popen(
      [sys.executable, "-c", HOLD_LOCK, str(directory)],
      cwd=ROOT,
      env=env,
      stdout=subprocess.PIPE,
      text=True,
  )
  assert proc.stdout.readline().strip() == "locked"
  return proc


def test_lock_names_the_holder_and_a_dead_holders_lock_is_taken_over(tmp_path):
  holder = _hold_lock(tmp_path)
  try:
    with pytest.raises(UserError, match=f"in use by process {holder.pid}"):
      workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  finally:
    holder.kill()
    holder.wait()
  # The dead holder's pid is still in the file; its lock went with it.
  assert (tmp_path / ".lock").read_text().strip() == str(holder.pid)
  with workdir_lib.WorkdirLock(str(tmp_path)):
    assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
  assert (tmp_path / ".lock").read_text() == ""  # emptied on release


def test_stale_pid_file_without_a_lock_is_taken_over(tmp_path):
  (tmp_path / ".lock").write_text("999999999\n")
  lock = workdir_lib.WorkdirLock(str(tmp_path))
  lock.acquire()
  assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
  lock.release()


@pytest.mark.slow
def test_second_run_on_a_locked_workdir_touches_nothing(trained, tmp_path):
  workdir = _copy(trained, tmp_path)
  before = _digest(workdir)
  holder = _hold_lock(workdir)
  try:
    proc = run_script(
        [
            "-m",
            "scripts.train",
            f"--workdir={workdir}",
            "--config=configs/dqn.py:catch",
            "--config.total_env_steps=2048",
            "--config.log_every_env_steps=512",
            "--config.min_replay_size=64",
            "--config.eval_episodes=2",
        ]
    )
  finally:
    holder.kill()
    holder.wait()
  assert proc.returncode == 2, proc.stderr
  assert _error_lines(proc.stderr) == [
      l for l in proc.stderr.splitlines() if l.strip()
  ], proc.stderr
  assert f"in use by process {holder.pid}" in proc.stderr
  assert _digest(workdir) == before


@pytest.mark.slow
def test_train_holds_the_lock_and_says_building_then_the_rounded_steps(
    tmp_path,
):
  lines = []

  def log(line):
    if "env steps" in line and len(lines) == 1:
      with pytest.raises(UserError, match=f"process {os.getpid()}"):
        workdir_lib.WorkdirLock(str(tmp_path)).acquire()
    lines.append(line)

  train.train(_tiny_dqn(total_env_steps=1000), str(tmp_path), log=log)
  with workdir_lib.WorkdirLock(str(tmp_path)):  # released at the end
    pass
  # A line at once, before the build; then the number of steps actually run.
  assert lines[0] == "[dqn catch] building..."
  assert (
      "training 1,024 env steps per seed (1,000 rounded up to whole "
      "segments of 512)"
  ) in lines[1], lines
  assert "compiled in" in lines[1]


# ---- 2. checkpoint recovery --------------------------------------------------


def _corrupt(step_dir):
  for dirpath, _, files in os.walk(step_dir):
    for name in files:
      if not name.startswith("_CHECKPOINT_METADATA"):
        with open(os.path.join(dirpath, name), "wb") as f:
          f.write(b"garbage")


def _steps(workdir):
  return sorted(
      int(p.name)
      for p in (workdir / "checkpoints").iterdir()
      if p.name.isdigit()
  )


@pytest.mark.slow
def test_corrupt_checkpoint_is_moved_aside_and_rewritten(
    trained, tmp_path, capfd
):
  from agents.runtime import evaluate_run  # pylint: disable=g-import-not-at-top

  workdir = _copy(trained, tmp_path)
  config, first = _tiny_dqn(), trained[1]
  newest = _steps(workdir)[-1]
  _corrupt(workdir / "checkpoints" / str(newest))
  capfd.readouterr()

  # A reader falls back, says which segment it used and that summary.json
  # reports another one; it moves nothing.
  lines = []
  result = evaluate_run.evaluate_workdir(str(workdir), 2, log=lines.append)
  assert result["checkpoint_segment"] == newest - 1
  assert result["same_as_summary"] is False
  assert any("summary.json reports" in l for l in lines), lines
  assert any(f"segment {newest - 1}" in l for l in lines), lines
  err = capfd.readouterr().err
  warnings = [l for l in err.splitlines() if l.strip()]
  assert len(warnings) == 1, err
  assert warnings[0].startswith("warning: checkpoint"), err
  assert (workdir / "checkpoints" / str(newest)).exists()

  # The resumed run moves it aside (one warning line) and writes it again.
  logs = []
  second = train.train(config, str(workdir), log=logs.append)
  err = capfd.readouterr().err
  warnings = [l for l in err.splitlines() if l.strip()]
  assert len(warnings) == 1, err
  assert f"moved to {workdir / 'checkpoints' / f'corrupt-{newest}'}" in err
  assert (workdir / "checkpoints" / f"corrupt-{newest}").is_dir()
  assert _steps(workdir)[-1] == newest  # rewritten
  assert any(f"segment {newest - 1}" in l for l in logs), logs
  jax.tree.map(np.testing.assert_array_equal, first.state, second.state)
  assert second.summary == {
      **first.summary,
      **{
          k: second.summary[k]
          for k in (
              "wall_seconds",
              "compile_seconds",
              "eval_seconds",
              "env_steps_per_second",
          )
      },
  }


@pytest.mark.slow
def test_no_readable_checkpoint_with_metrics_is_refused_unless_overwrite(
    trained, tmp_path, capfd
):
  workdir = _copy(trained, tmp_path)
  config = _tiny_dqn()
  for step in _steps(workdir):
    _corrupt(workdir / "checkpoints" / str(step))
  metrics = (workdir / "metrics.csv").read_bytes()
  before = _digest(workdir)
  with pytest.raises(UserError, match="no readable checkpoint"):
    train.train(config, str(workdir), log=lambda _: None)
  assert _digest(workdir) == before  # nothing moved: it may be transient
  capfd.readouterr()
  train.train(config, str(workdir), overwrite=True, log=lambda _: None)
  aside = [
      p
      for p in workdir.iterdir()
      if p.name.startswith(train.OVERWRITTEN_PREFIX)
  ]
  assert len(aside) == 1 and (aside[0] / "metrics.csv").read_bytes() == metrics
  assert (workdir / "summary.json").exists()


# ---- 3. every key declared and validated before anything is written ----------


def _all_presets():
  for name in config_schema.config_modules():
    module = importlib.import_module(f"configs.{name}")
    presets = config_schema.presets_of(module)
    assert presets, f"configs/{name}.py lists no presets"
    for preset in presets:
      yield name, preset, module.get_config(preset)


def test_every_key_of_every_preset_is_declared_and_its_value_allowed():
  count = 0
  for name, preset, config in _all_presets():
    for key in config.keys():
      spec = config_schema.SCHEMA.get(key)
      assert spec is not None, (
          f"configs/{name}.py:{preset}: key {key!r} is not declared in "
          "agents/runtime/config_schema.py"
      )
      assert spec(config[key]), (name, preset, key, config[key])
    train.validate_config(config)
    count += 1
  assert count >= 20


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("seed", -1, "seed=-1"),
        ("learning_rate", float("inf"), "learning_rate=inf"),
        ("learning_rate", float("nan"), "learning_rate=nan"),
        ("epsilon_decay_env_steps", 0, "epsilon_decay_env_steps=0"),
        ("huber_delta", -1.0, "huber_delta=-1.0"),
        ("gamma", 1.5, "gamma=1.5"),
        ("num_envs", True, "num_envs=True"),
        ("hidden_sizes", (), "hidden_sizes=()"),
    ],
)
def test_schema_rejects(key, value, message):
  c = dqn.get_config("catch")
  c[key] = value
  with pytest.raises(
      UserError, match=message.replace("(", r"\(").replace(")", r"\)")
  ):
    train.validate_config(c)


def test_schema_specs():
  spec = config_schema.either(
      config_schema.integer(min=1), config_schema.boolean()
  )
  assert spec(5) and spec(True) and not spec(0) and not spec(1.5)
  assert spec.allowed == "an integer in [1, 2147483647] or True or False"
  prob = config_schema.number(min=0, max=1)
  assert prob(0) and prob(1) and prob(0.5)
  assert not any(
      prob(v)
      for v in (-0.1, 1.1, float("nan"), float("inf"), True, "0.5", None)
  )
  assert not config_schema.number(min=0, min_open=True)(0.0)
  assert not config_schema.integer(min=1)(2**31)
  assert config_schema.sizes()((1, 2)) and not config_schema.sizes()((1.0,))


@pytest.mark.parametrize(
    "config_name,key,value",
    [
        ("qr_dqn", "num_quantiles", 0),
        ("meta_a2c", "lstm_size", 0),
        ("dqn", "seed", -1),
    ],
)
def test_bad_key_fails_before_the_workdir_is_touched(
    tmp_path, config_name, key, value
):
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "config.json").write_text('{"old": "run"}')
  (workdir / "metrics.csv").write_text("env_steps\n1\n")
  before = _digest(workdir)
  config = importlib.import_module(f"configs.{config_name}").get_config()
  config[key] = value
  for overwrite in (False, True):
    with pytest.raises(UserError, match=f"{key}={value}"):
      train.train(config, str(workdir), overwrite=overwrite, log=lambda _: None)
    assert _digest(workdir) == before
    assert sorted(p.name for p in workdir.iterdir()) == [
        "config.json",
        "metrics.csv",
    ]


# ---- 4. one error line and exit 2 from every script --------------------------

NPZ_CASES = ["truncated", "garbage", "wrong_keys", "missing", "empty_dir"]


def _bad_npz(tmp_path, kind):
  path = tmp_path / f"{kind}.npz"
  if kind == "truncated":
    buf = tmp_path / "full.npz"
    np.savez(
        buf,
        responses=np.zeros((2, 3, 4)),
        utility_axis=np.zeros(3),
        magnitudes_ul=np.zeros(3),
    )
    path.write_bytes(buf.read_bytes()[:200])
  elif kind == "garbage":
    path.write_bytes(b"not an npz at all\n")
  elif kind == "wrong_keys":
    np.savez(path, something=np.zeros(3))
  elif kind == "empty_dir":
    path = tmp_path / "folder"
    path.mkdir()
  return path


def _error_cases(tmp_path):
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  bad_json = tmp_path / "bad_json"
  bad_json.mkdir()
  (bad_json / "config.json").write_text("{not json")
  wrong_keys = tmp_path / "wrong_keys_run"
  wrong_keys.mkdir()
  (wrong_keys / "config.json").write_text('{"agent": "dqn", "colour": 3}')
  ok = ["--config=configs/dqn.py:catch"]
  cases = [
      (
          ["scripts.train", "--config=configs/nope.py", "--workdir=w"],
          "no such file",
      ),
      (["scripts.train", "--config=configs", "--workdir=w"], "directory"),
      (
          ["scripts.train", "--config=configs/common.py", "--workdir=w"],
          "defines no get_config",
      ),
      (["scripts.train", *ok, f"--workdir={a_file}"], "not a directory"),
      (["scripts.train", *ok, "--workdir=/proc/h16a"], "cannot be created"),
      (["scripts.train", *ok, "--workdir="], "--workdir is empty"),
      (["scripts.evaluate", f"--workdir={bad_json}"], "not valid JSON"),
      (["scripts.evaluate", f"--workdir={wrong_keys}"], "config has no"),
      (
          ["scripts.evaluate", f"--workdir={tmp_path}", "--episodes=0"],
          "--episodes=0",
      ),
      (
          ["scripts.reproduce_dabney2020", f"--workdir={a_file}", "--data="],
          "not a directory",
      ),
      (
          ["scripts.reproduce_dabney2020", "--workdir=/proc/h16a", "--data="],
          "cannot be created",
      ),
      (
          ["scripts.reproduce_dabney2020", "--workdir=", "--data="],
          "--workdir is empty",
      ),
  ]
  for kind in NPZ_CASES:
    cases.append(
        (
            [
                "scripts.reproduce_dabney2020",
                f"--workdir={tmp_path / 'out'}",
                "--quick",
                f"--data={_bad_npz(tmp_path, kind)}",
            ],
            "--data=",
        )
    )
  if os.geteuid() != 0:  # root writes into read-only directories
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    cases.append(
        (["scripts.train", *ok, f"--workdir={read_only}"], "not writable")
    )
  return cases


@pytest.mark.slow
def test_bad_input_to_every_script_is_one_error_line_and_exit_2(tmp_path):
  cases = _error_cases(tmp_path)
  before = _digest(tmp_path)
  env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
  for batch in range(0, len(cases), 4):  # four processes at a time
    running = [
        (
            args,
            message,
            subprocess.Popen(
                [sys.executable, "-m", *args],
                cwd=ROOT,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
        )
        for args, message in cases[batch : batch + 4]
    ]
    for args, message, proc in running:
      out, err = proc.communicate(timeout=300)
      errors = _error_lines(err)
      assert proc.returncode == 2, (args, out, err)
      assert len(errors) == 1 and message in errors[0], (args, err)
      assert "Traceback" not in err, (args, err)
  assert _digest(tmp_path) == before
  assert not (tmp_path / "out").exists()


def test_data_folder_is_accepted(tmp_path):
  from scripts import reproduce_dabney2020  # pylint: disable=g-import-not-at-top

  real = ROOT.parent / "shared" / "data" / "dabney2020"
  if not (real / "variable_magnitude.npz").exists():
    pytest.skip("no recordings beside the repository")
  assert reproduce_dabney2020.recordings_path(str(real), True) == (
      real / "variable_magnitude.npz"
  )
  assert reproduce_dabney2020.recordings_path("", True) is None
  assert (
      reproduce_dabney2020.recordings_path(str(tmp_path / "absent.npz"), False)
      is None
  )  # the default, absent
  with pytest.raises(UserError, match="does not exist"):
    reproduce_dabney2020.recordings_path(str(tmp_path / "absent.npz"), True)


def test_ensure_writable_dir():
  for bad, message in [
      ("", "empty"),
      ("/proc/x/y", "cannot be created"),
      ("/proc", "not writable"),
      (__file__, "not a directory"),
      (__file__ + "/sub", "not a directory"),
  ]:
    with pytest.raises(UserError, match=message):
      workdir_lib.ensure_writable_dir(bad)


def test_write_json_atomic_leaves_no_temporary(tmp_path):
  path = tmp_path / "a.json"
  workdir_lib.write_json_atomic(str(path), {"b": 1, "a": [1, 2]})
  assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
  assert os.listdir(tmp_path) == ["a.json"]
  with pytest.raises(TypeError):
    workdir_lib.write_json_atomic(str(path), {"x": object()})
  assert os.listdir(tmp_path) == ["a.json"]
  assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}


# ---- 5. Ctrl-C and SIGTERM ---------------------------------------------------


def _start_and_signal(workdir, sig):
  env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
  proc = popen_interruptible(
      [
          sys.executable,
          "-m",
          "scripts.train",
          f"--workdir={workdir}",
          "--config=configs/dqn.py:catch",
          "--config.total_env_steps=3000000",
          "--config.log_every_env_steps=512",
          "--config.min_replay_size=64",
          "--config.eval_episodes=2",
      ],
      cwd=ROOT,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )
  deadline = time.time() + 400
  ckpts = workdir / "checkpoints"
  # Two checkpoints newer than those of an earlier run (only the newest 3
  # are kept, so count by step, not by number of folders).
  wanted = (max(_steps(workdir), default=0) if ckpts.exists() else 0) + 2
  while time.time() < deadline and proc.poll() is None:
    if (
        ckpts.exists()
        and max(
            [int(p.name) for p in ckpts.iterdir() if p.name.isdigit()],
            default=0,
        )
        >= wanted
    ):
      break
    time.sleep(0.05)
  assert proc.poll() is None, proc.communicate()
  proc.send_signal(sig)
  out, err = proc.communicate(timeout=300)
  return proc.returncode, out, err


@pytest.mark.slow
def test_interrupt_is_one_line_and_keeps_the_last_checkpoint(tmp_path):
  workdir = tmp_path / "run"
  for sig, code, word in [
      (signal.SIGINT, 130, "interrupted:"),
      (signal.SIGTERM, 143, "terminated (SIGTERM):"),
  ]:
    returncode, out, err = _start_and_signal(workdir, sig)
    lines = [l for l in err.splitlines() if l.strip()]
    assert returncode == code, (out, err)
    assert len(lines) == 1 and lines[0].startswith(word), err
    assert "the last checkpoint (segment" in lines[0], err
    assert (workdir / ".lock").read_text() == ""
    steps = _steps(workdir)
    assert steps and f"segment {steps[-1]}," in lines[0]
  assert "resuming from checkpoint" in out  # the second run resumed
  config = train.load_workdir_config(str(workdir))
  _, loop = train.build_loop(config)
  ckpt = checkpointing.Checkpointer(str(workdir / "checkpoints"))
  restored = ckpt.restore_latest(loop.abstract_state(1))
  ckpt.close()
  assert restored is not None and restored[0] == steps[-1]


# ---- 6. smaller items --------------------------------------------------------


@pytest.mark.slow
def test_help_exits_0_and_lists_agents_presets_and_keys():
  proc = run_script(
      ["-m", "scripts.train", "--help", "--config=configs/qr_dqn.py:cartpole"]
  )
  assert proc.returncode == 0, proc.stderr
  from agents import registry  # pylint: disable=g-import-not-at-top

  listed = re.search(r"agents: (.*)", proc.stdout)
  assert listed and listed.group(1).split(", ") == sorted(registry.AGENTS)
  assert "configs/meta_a2c.py: bandit_independent" in proc.stdout
  assert "num_quantiles" in proc.stdout and "an integer in [1" in proc.stdout
  assert re.search(
      r"\n  huber_delta +\= 100\.0  -- a finite number > 0", proc.stdout
  ), proc.stdout
  for script in ("scripts.evaluate", "scripts.reproduce_dabney2020"):
    proc = run_script(["-m", script, "--help"])
    assert proc.returncode == 0 and "--workdir" in proc.stdout, proc.stderr


def test_makefile_reinstalls_only_when_the_lock_changes(tmp_path):
  if shutil.which("make") is None or shutil.which("sha256sum") is None:
    pytest.skip("needs make and sha256sum")
  shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
  shutil.copy(ROOT / "requirements.lock", tmp_path / "requirements.lock")
  venv = tmp_path / "venv"
  (venv / "bin").mkdir(parents=True)
  calls = tmp_path / "calls"
  fake = venv / "bin" / "python"
  fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
  fake.chmod(0o755)

  def make():
    subprocess.run(
        ["make", "-s", str(venv), f"VENV={venv}"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    return (
        calls.read_text().count("-r requirements.lock") if calls.exists() else 0
    )

  assert make() == 1
  assert make() == 1  # same lock: nothing reinstalled
  os.utime(tmp_path / "requirements.lock")  # newer, same content
  assert make() == 1
  with open(tmp_path / "requirements.lock", "a") as f:
    f.write("extra==1.0\n")
  assert make() == 2


def test_pyproject_dependencies():
  project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
  names = [d.split(">")[0].split("=")[0] for d in project["dependencies"]]
  assert "bsuite" in names
  assert any(
      d.startswith("hypothesis")
      for d in project["optional-dependencies"]["test"]
  )
  lock = (ROOT / "requirements.lock").read_text().split()
  assert "hypothesis==6.170.17" in lock and "sortedcontainers==2.4.0" in lock
