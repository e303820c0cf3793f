"""The compiled loop: seeds vmapped = separate runs; 1 vs 4 devices; two processes."""

import re
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from agents.runtime import anakin
from agents.runtime import train
from configs import a2c, dqn
from tests.conftest import ROOT, run_script


def _small_a2c():
  c = a2c.get_config("cartpole")
  c.num_envs = 8
  c.rollout_length = 8
  c.total_env_steps = 8 * 8 * 30
  c.log_every_env_steps = 8 * 8 * 10
  c.eval_episodes = 2
  c.eval_max_steps = 20
  return c


def _final_state(config, workdir):
  result = train.train(config, str(workdir), log=lambda _: None)
  return result.summary, result.state


def test_vmapped_seeds_equal_separate_runs(tmp_path):
  c = dqn.get_config("catch")
  c.total_env_steps = 8 * 4 * 200
  c.log_every_env_steps = 8 * 4 * 100
  c.min_replay_size = 64
  c.eval_episodes = 5
  c.seed, c.num_seeds = 3, 2
  summary, state = _final_state(c, tmp_path / "both")
  both = anakin.fetch_replicated(state.agent_state.params)
  for i, seed in enumerate([3, 4]):
    c1 = dqn.get_config("catch")
    c1.update(
        dict(
            total_env_steps=c.total_env_steps,
            log_every_env_steps=c.log_every_env_steps,
            min_replay_size=64,
            eval_episodes=5,
            seed=seed,
            num_seeds=1,
        )
    )
    summary_i, state_i = _final_state(c1, tmp_path / f"seed{seed}")
    single = anakin.fetch_replicated(state_i.agent_state.params)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(
            a[i], b[0], rtol=1e-4, atol=1e-5
        ),
        both,
        single,
    )
    assert summary["eval_return_per_seed"][i] == pytest.approx(
        summary_i["eval_return_per_seed"][0], abs=1e-6
    )


def test_multi_seed_init_has_no_batched_qr_and_matches_single_seeds():
  # vmapping the agents' init over seeds turned the orthogonal initialisers
  # into batched LAPACK QR calls, which on XLA:CPU can deadlock in their own
  # thread pool (see anakin.AnakinLoop.init_fn). The seeds are initialised
  # one after the other instead: every QR in the init program is unbatched,
  # and each seed's state is the one a single-seed init builds.
  c = a2c.get_config("cartpole")
  c.num_envs = 4
  _, loop = train.build_loop(c)
  seeds = np.asarray([5, 6, 7], np.uint32)
  hlo = loop.init_fn().lower(seeds).compile().as_text()
  qr_outputs = [
      re.search(r"= \(f32\[([\d,]+)\]", line).group(1)
      for line in hlo.splitlines()
      if "lapack_sgeqrf" in line
  ]
  assert qr_outputs, "expected the orthogonal initialisers' QR in init"
  for dims in qr_outputs:  # f32[rows,cols]: no leading seed axis
    assert len(dims.split(",")) == 2, dims
  many = loop.init(list(seeds))
  for i, seed in enumerate(seeds):
    one = loop.init([int(seed)])
    jax.tree.map(
        lambda a, b: np.testing.assert_array_equal(  # pylint: disable=cell-var-from-loop
            np.asarray(a)[:, i], np.asarray(b)[:, 0]
        ),
        many,
        one,
    )


def test_one_and_four_devices_give_the_same_a2c_params(tmp_path):
  code = textwrap.dedent(f"""
      import numpy as np, jax
      assert jax.device_count() == 4, jax.devices()
      from agents.runtime import anakin, train
      from tests.test_loop import _small_a2c
      params = []
      for n in (1, 4):
        c = _small_a2c(); c.num_devices = n
        result = train.train(c, r"{tmp_path}/d%d" % n, log=lambda _: None)
        assert result.summary["num_devices"] == n
        params.append(anakin.fetch_replicated(result.state.agent_state.params))
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4,
                                                           atol=2e-5), *params)
      moved = jax.tree.leaves(jax.tree.map(
          lambda a: float(np.abs(a).sum()), params[0]))
      assert sum(moved) > 0
      print("OK")
  """)
  proc = run_script(
      ["-c", code],
      env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert "OK" in proc.stdout


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_end_with_identical_params(tmp_path):
  port = _free_port()
  env = dict(
      __import__("os").environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu"
  )
  procs = [
      subprocess.Popen(
          [
              sys.executable,
              "tests/multihost_worker.py",
              str(port),
              str(i),
              str(tmp_path / "run"),
              str(tmp_path / f"p{i}.npz"),
          ],
          cwd=ROOT,
          env=env,
          stdout=subprocess.PIPE,
          stderr=subprocess.STDOUT,
          text=True,
      )
      for i in range(2)
  ]
  outs = [p.communicate(timeout=500)[0] for p in procs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out
    assert "devices 2 local 1" in out
  p0, p1 = (np.load(tmp_path / f"p{i}.npz") for i in range(2))
  assert sorted(p0.files) == sorted(p1.files) and p0.files
  for k in p0.files:
    np.testing.assert_array_equal(p0[k], p1[k])
