"""Subprocess tests of the scripts: smoke, bad input, resume after SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import ROOT, run_script

pytestmark = pytest.mark.slow

# A short DQN-on-Catch run: 12 segments of 512 steps, a checkpoint after each.
SHORT = [
    "--config=configs/dqn.py:catch",
    "--config.total_env_steps=6144",
    "--config.log_every_env_steps=512",
    "--config.min_replay_size=64",
    "--config.eval_episodes=10",
]


def _train(workdir, *extra, **kw):
  return run_script(
      ["-m", "scripts.train", f"--workdir={workdir}", *SHORT, *extra], **kw
  )


def _snapshot(workdir):
  out = {}
  for dirpath, _, files in os.walk(workdir):
    for name in files:
      path = os.path.join(dirpath, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, workdir)] = f.read()
  return out


def test_make_run_command_and_evaluate(tmp_path):
  """`make run`'s exact command, then scripts.evaluate on its workdir."""
  workdir = tmp_path / "run"
  proc = run_script(
      [
          "-m",
          "scripts.train",
          "--config=configs/dqn.py:catch",
          f"--workdir={workdir}",
      ]
  )
  assert proc.returncode == 0, proc.stderr
  assert "steps/s" in proc.stdout and "ETA" in proc.stdout
  assert proc.stdout.splitlines()[0] == "[dqn catch] building..."
  for name in (
      "config.json",
      "metrics.csv",
      "summary.json",
      "learning_curve.png",
      "checkpoints",
  ):
    assert (workdir / name).exists(), name
  summary = json.loads((workdir / "summary.json").read_text())
  for key in (
      "agent",
      "task",
      "seeds",
      "env_steps",
      "wall_seconds",
      "compile_seconds",
      "env_steps_per_second",
      "eval_return_mean",
      "eval_episodes",
  ):
    assert key in summary, key
  header = (workdir / "metrics.csv").read_text().splitlines()[0].split(",")
  for column in (
      "env_steps",
      "wall_seconds",
      "env_steps_per_second",
      "episode_return_mean",
      "loss",
  ):
    assert column in header
  proc = run_script(
      ["-m", "scripts.evaluate", f"--workdir={workdir}", "--episodes=20"]
  )
  assert proc.returncode == 0, proc.stderr
  result = json.loads((workdir / "eval.json").read_text())
  assert result["episodes"] == 20 and result["eval_return_mean"] >= 0.9


BAD_INPUTS = [
    (["--config.agent=ppo"], "unknown agent 'ppo'"),
    (["--config.env=pong"], "unknown task 'pong'"),
    (["--config.learnin_rate=0.1"], "unknown config key 'learnin_rate'"),
    (["--config.num_envs=abc"], "num_envs"),
    (["--config.learning_rate=-0.5"], "learning_rate=-0.5 is not allowed"),
    (["--config.num_envs=0"], "num_envs=0 is not allowed"),
    (["--config.batch_size=100000"], "larger than config.replay_capacity"),
    (["--config.env=pendulum"], "cannot act in task 'pendulum'"),
    (
        ["--config.env=bsuite:nope/0", "--config.num_envs=1"],
        "unknown bsuite id",
    ),
    (["--config.replay=movie"], "config.replay='movie' is not allowed"),
    (
        ["--config.priority_exponent=1.5"],
        "priority_exponent=1.5 is not allowed",
    ),
    (
        ["--config.importance_exponent=-0.1"],
        "importance_exponent=-0.1 is not allowed",
    ),
    (["--config.imagination_ratio=2"], "imagination_ratio=2.0 is not allowed"),
    (
        ["--config.replay=imagination", "--config.imagination_model=tabular"],
        "tabular imagination model needs",
    ),
]


@pytest.mark.parametrize(
    "args,message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS]
)
def test_bad_input_is_one_clear_message_and_loses_nothing(
    tmp_path, args, message
):
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "notes.txt").write_text("precious")
  before = _snapshot(workdir)
  proc = _train(workdir, *args)
  assert proc.returncode == 2, (proc.stdout, proc.stderr)
  assert message in proc.stderr, proc.stderr
  assert "Traceback" not in proc.stderr, proc.stderr
  assert _snapshot(workdir) == before


def test_bad_preset_and_missing_workdir_are_clear(tmp_path):
  proc = run_script(
      [
          "-m",
          "scripts.train",
          "--config=configs/dqn.py:nope",
          f"--workdir={tmp_path}",
      ]
  )
  assert proc.returncode == 2 and "unknown preset 'nope'" in proc.stderr
  assert "Traceback" not in proc.stderr
  proc = run_script(["-m", "scripts.evaluate", f"--workdir={tmp_path}/none"])
  assert proc.returncode == 2 and "holds no run" in proc.stderr


def test_other_config_is_refused_unless_overwrite(tmp_path):
  workdir = tmp_path / "run"
  assert _train(workdir, "--config.total_env_steps=1024").returncode == 0
  before = _snapshot(workdir)
  proc = _train(
      workdir, "--config.total_env_steps=1024", "--config.learning_rate=0.01"
  )
  assert proc.returncode == 2 and "different config" in proc.stderr
  assert "learning_rate" in proc.stderr
  assert _snapshot(workdir) == before
  proc = _train(
      workdir,
      "--config.total_env_steps=1024",
      "--config.learning_rate=0.01",
      "--overwrite",
  )
  assert proc.returncode == 0, proc.stderr
  config = json.loads((workdir / "config.json").read_text())
  assert config["learning_rate"] == 0.01
  # The old run is moved aside, not deleted.
  (aside,) = [p for p in workdir.iterdir() if p.name.startswith("overwritten-")]
  assert _snapshot(aside) == {k: v for k, v in before.items() if k != ".lock"}


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  workdir = tmp_path / "run"
  # A huge learning rate makes the Q-values overflow after a few updates.
  proc = _train(
      workdir,
      "--config.learning_rate=1e30",
      "--config.max_grad_norm=0",
      "--config.optimizer=rmsprop",
  )
  assert proc.returncode == 3, (proc.stdout, proc.stderr)
  assert "non-finite loss" in proc.stderr and "Traceback" not in proc.stderr
  assert "last good checkpoint" in proc.stderr
  assert not (workdir / "summary.json").exists()


def _final_params(workdir):
  sys.path.insert(0, str(ROOT))
  from agents.runtime import anakin, checkpointing, train

  config = train.load_workdir_config(str(workdir))
  _, loop = train.build_loop(config)
  ckpt = checkpointing.Checkpointer(str(workdir / "checkpoints"))
  step, state = ckpt.restore_latest(loop.abstract_state(config.num_seeds))
  ckpt.close()
  return step, anakin.fetch_replicated(state)


def _rows_without_timing(workdir):
  from agents.runtime import metrics_log

  rows = metrics_log.MetricsLog(str(workdir / "metrics.csv")).read()
  return [
      {k: v for k, v in r.items() if k not in metrics_log.TIMING_COLUMNS}
      for r in rows
  ]


# every kind of replay (agents/replay): its whole state is checkpointed
REPLAY_KINDS = {
    "uniform": [],
    "prioritized": ["--config.replay=prioritized"],
    "imagination": ["--config.replay=imagination"],
}


@pytest.mark.parametrize("replay", sorted(REPLAY_KINDS))
def test_resume_after_sigkill_is_bitwise_identical(tmp_path, replay):
  import jax

  extra = REPLAY_KINDS[replay]
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  assert _train(straight, *extra).returncode == 0
  env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
  proc = subprocess.Popen(
      [
          sys.executable,
          "-m",
          "scripts.train",
          f"--workdir={killed}",
          *SHORT,
          *extra,
      ],
      cwd=ROOT,
      env=env,
      stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL,
  )
  deadline = time.time() + 300
  ckpts = killed / "checkpoints"
  while time.time() < deadline:  # kill once a few checkpoints exist
    if (
        ckpts.exists()
        and len([p for p in ckpts.iterdir() if p.name.isdigit()]) >= 3
    ):
      break
    if proc.poll() is not None:
      break
    time.sleep(0.02)
  assert proc.poll() is None, "run finished before it could be killed"
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not (killed / "summary.json").exists()
  proc = _train(killed, *extra)
  assert proc.returncode == 0, proc.stderr
  assert "resuming from checkpoint" in proc.stdout
  step_a, state_a = _final_params(straight)
  step_b, state_b = _final_params(killed)
  assert step_a == step_b
  jax.tree.map(np.testing.assert_array_equal, state_a, state_b)
  assert _rows_without_timing(straight) == _rows_without_timing(killed)
  summary_a = json.loads((straight / "summary.json").read_text())
  summary_b = json.loads((killed / "summary.json").read_text())
  assert summary_a["eval_return_mean"] == summary_b["eval_return_mean"]


def test_corrupt_latest_checkpoint_falls_back(tmp_path):
  workdir = tmp_path / "run"
  assert _train(workdir).returncode == 0
  ckpts = sorted(
      (p for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()),
      key=lambda p: int(p.name),
  )
  latest = ckpts[-1]
  for dirpath, _, files in os.walk(latest):  # damage every data file
    for name in files:
      if not name.startswith("_CHECKPOINT_METADATA"):
        with open(os.path.join(dirpath, name), "wb") as f:
          f.write(b"garbage")
  (workdir / "summary.json").unlink()
  proc = _train(workdir)
  assert proc.returncode == 0, proc.stderr
  assert f"segment {int(ckpts[-2].name)}" in proc.stdout
  # One warning line (no TensorStore dump); the step is moved aside and
  # written again by the resumed run.
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("warning: checkpoint"), lines
  assert (workdir / "checkpoints" / f"corrupt-{latest.name}").is_dir()
  assert latest.is_dir()


def test_host_loop_on_bsuite_testing_ids(tmp_path):
  from bsuite import sweep

  ids = [i for i in sweep.TESTING if i.split("/")[0] in ("catch", "cartpole")]
  assert ids
  for bsuite_id in ids:
    proc = run_script(
        [
            "-m",
            "scripts.train",
            f"--workdir={tmp_path / bsuite_id}",
            "--config=configs/dqn.py:catch",
            f"--config.env=bsuite:{bsuite_id}",
            "--config.num_envs=1",
            "--config.total_env_steps=1000",
            "--config.log_every_env_steps=500",
            "--config.min_replay_size=64",
            "--config.eval_episodes=2",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    # The host loop compiles on its first segment, not before that line.
    assert "compiled in" not in proc.stdout and "initialised in" in proc.stdout
    summary = json.loads((tmp_path / bsuite_id / "summary.json").read_text())
    assert summary["task"] == f"bsuite:{bsuite_id}"
    assert summary["env_steps"] == 1000


def test_benchmark_script_prints_a_table(tmp_path):
  out = tmp_path / "bench.json"
  proc = run_script(
      [
          "-m",
          "scripts.benchmark",
          "--only=dqn_catch,gymnax",
          "--seconds=0.2",
          f"--json={out}",
      ]
  )
  assert proc.returncode == 0, proc.stderr
  assert "dqn_catch" in proc.stdout and "steps/s" in proc.stdout
  assert "threefry on CPU: unrolled" in proc.stdout
  results = json.loads(out.read_text())
  assert results["dqn_catch"]["env_steps_per_second"] > 0


@pytest.mark.parametrize("agent", ["dqn", "qr_dqn"])
def test_purejaxrl_workload_is_a_valid_config_and_the_minimal_program_runs(
    agent,
):
  import jax  # pylint: disable=g-import-not-at-top
  from agents.runtime import benchmarks as bm  # pylint: disable=g-import-not-at-top
  from agents.runtime import train as train_lib  # pylint: disable=g-import-not-at-top
  from configs import dqn, qr_dqn  # pylint: disable=g-import-not-at-top

  c = dict(dqn=dqn, qr_dqn=qr_dqn)[agent].get_config("cartpole")
  assert set(bm.PUREJAXRL_DQN_WORKLOAD) <= set(c.keys())
  c.update(bm.PUREJAXRL_DQN_WORKLOAD)
  _, loop = train_lib.build_loop(c)
  init, run = bm.minimal_value_based_program(c, loop.env, num_iterations=3)
  carry = init(jax.random.PRNGKey(0))
  params = jax.tree.map(np.asarray, carry[0])
  carry = run(carry)
  # The same network as our agent's, and 3 gradient steps moved it.
  ours = jax.tree.map(np.shape, loop.init([0]).agent_state.params)
  assert jax.tree.map(lambda x: (1, 1, *np.shape(x)), params) == ours
  moved = jax.tree.map(
      lambda a, b: np.any(a != np.asarray(b)), params, carry[0]
  )
  assert all(jax.tree.leaves(moved))
  assert int(carry[-1]) == 3


def test_interleaved_rates_times_every_program_in_every_round():
  from agents.runtime import benchmarks as bm  # pylint: disable=g-import-not-at-top

  calls = []

  def program(name, steps):
    def step():
      calls.append(name)
      return steps

    return step

  rates = bm.interleaved_rates(
      dict(a=program("a", 10), b=program("b", 20)), rounds=3, seconds=0.0
  )
  assert calls == ["a", "b"] * 3  # one step each per round, in turn
  for name in "ab":
    assert len(rates[name]["wall"]) == len(rates[name]["cpu"]) == 3
    assert all(r > 0 for r in rates[name]["wall"])
