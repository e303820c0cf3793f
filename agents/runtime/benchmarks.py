"""Throughput benchmarks behind `python -m scripts.benchmark` (a printed table).

Every number is measured in the calling process, side by side, so ratios are
comparable on a shared, noisy machine:
  * compiled training throughput (env steps/s, compile excluded) and compile
    time per agent, on the configs users run;
  * whole-process wall time of a training command (imports, compile, training,
    evaluation), and whether it solved the task;
  * the host loop on a bsuite environment;
  * our functional CartPole step against gymnax's CartPole-v1 (random actions,
    same batch), when gymnax is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import jax
import ml_collections

from agents.runtime import train as train_lib


def compiled_throughput(config: ml_collections.ConfigDict,
                        min_seconds: float = 2.0) -> dict[str, Any]:
  """Env steps/s of the compiled loop on `config` (compile time excluded)."""
  _, loop, is_host = train_lib.build_loop(config)
  assert not is_host
  t0 = time.perf_counter()
  state = loop.init([config.seed + i for i in range(config.num_seeds)])
  segment = loop.segment_fn().lower(state).compile()
  compile_seconds = time.perf_counter() - t0
  state, metrics = segment(state)  # warm-up
  jax.block_until_ready(metrics)
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < min_seconds:
    state, metrics = segment(state)
    jax.block_until_ready(metrics)
    steps += loop.env_steps_per_segment * config.num_seeds
  seconds = time.perf_counter() - start
  return dict(env_steps_per_second=steps / seconds,
              compile_seconds=compile_seconds, env_steps=steps)


def host_loop_throughput(config: ml_collections.ConfigDict,
                         min_seconds: float = 3.0) -> dict[str, Any]:
  """Env steps/s of the host loop driving a stateful dm_env environment."""
  _, loop, is_host = train_lib.build_loop(config)
  assert is_host
  state = loop.init(config.seed)
  state, _ = loop.run_segment(state)  # compiles act and learn
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < min_seconds:
    state, _ = loop.run_segment(state)
    steps += loop.env_steps_per_segment
  return dict(env_steps_per_second=steps / (time.perf_counter() - start))


def dm_env_alone_throughput(environment, min_seconds: float = 2.0,
                            seed: int = 0) -> float:
  """Steps/s of a stateful dm_env stepped with random actions and no agent:
  the ceiling for any host loop on it, measured in the same run."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  num_actions = environment.action_spec().num_values
  environment.reset()
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < min_seconds:
    for action in rng.integers(num_actions, size=1000):
      environment.step(int(action))
    steps += 1000
  return steps / (time.perf_counter() - start)


def whole_process(args: list[str]) -> dict[str, Any]:
  """Runs `python -m scripts.train ARGS` in a fresh process; wall time + summary."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  with tempfile.TemporaryDirectory() as workdir:
    env = dict(os.environ, PYTHONPATH=root)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.train", f"--workdir={workdir}/run",
         *args], cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
      raise RuntimeError(f"benchmark run failed: {proc.stderr[-2000:]}")
    with open(os.path.join(workdir, "run", "summary.json")) as f:
      summary = json.load(f)
  return dict(process_seconds=wall, **summary)


def env_step_throughput(env_step, env_reset, num_actions: int, batch: int,
                        steps: int, repeats: int = 3) -> float:
  """Steps/s of `step` vmapped over `batch` envs and scanned `steps` times."""
  def run(key):
    keys = jax.random.split(key, batch)
    state = jax.vmap(env_reset)(keys)

    def body(carry, _):
      state, key = carry
      key, action_key = jax.random.split(key)
      actions = jax.random.randint(action_key, (batch,), 0, num_actions)
      state = jax.vmap(env_step)(state, actions)
      return (state, key), ()

    (state, _), _ = jax.lax.scan(body, (state, key), None, length=steps)
    return state

  run = jax.jit(run)
  jax.block_until_ready(run(jax.random.PRNGKey(0)))
  best = float("inf")
  for i in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(run(jax.random.PRNGKey(i + 1)))
    best = min(best, time.perf_counter() - start)
  return batch * steps / best


def cartpole_vs_gymnax(batch: int = 1024, steps: int = 1000
                       ) -> dict[str, float]:
  """Our CartPole against gymnax's CartPole-v1, random actions, same batch."""
  from environments import cartpole  # pylint: disable=g-import-not-at-top
  env = cartpole.CartPole()
  ours = env_step_throughput(
      lambda s, a: env.step(s, a)[0], lambda k: env.reset(k)[0], 2, batch,
      steps)
  result = dict(ours=ours)
  try:
    import gymnax  # pylint: disable=g-import-not-at-top
  except ImportError:
    return result
  gx_env, gx_params = gymnax.make("CartPole-v1")

  def gx_reset(key):
    _, state = gx_env.reset(key, gx_params)
    return (state, key)

  def gx_step(carry, action):
    state, key = carry
    key, step_key = jax.random.split(key)
    state = gx_env.step(step_key, state, action, gx_params)[1]
    return (state, key)

  result["gymnax"] = env_step_throughput(gx_step, gx_reset, 2, batch, steps)
  return result


def format_table(rows: list[tuple[str, ...]]) -> str:
  widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
  lines = []
  for n, row in enumerate(rows):
    lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    if n == 0:
      lines.append("  ".join("-" * w for w in widths))
  return "\n".join(lines)


def rate(x: float) -> str:
  return f"{x / 1e3:,.1f}k" if x >= 1e4 else f"{x:,.0f}"


def population_td_seconds(num_units: int = 1000, num_trials: int = 100_000,
                          repeats: int = 3) -> dict[str, float]:
  """Simulating a distributional-TD population on the variable-magnitude task
  (rewards sampled inside the program), best of `repeats`, compile excluded."""
  from agents import distributional_td as dtd  # pylint: disable=g-import-not-at-top
  from environments import dopamine_tasks  # pylint: disable=g-import-not-at-top
  task = dopamine_tasks.VariableMagnitude()
  population = dtd.make_population(num_units, "expectile")
  simulate = jax.jit(lambda key: dtd.simulate_rewards(
      population, dtd.sample_rewards(task.reward_sizes, task.reward_probs,
                                     num_trials, key)))
  start = time.perf_counter()
  jax.block_until_ready(simulate(jax.random.PRNGKey(0)))
  compile_seconds = time.perf_counter() - start
  best = float("inf")
  for i in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(simulate(jax.random.PRNGKey(i + 1)))
    best = min(best, time.perf_counter() - start)
  return dict(seconds=best, compile_seconds=compile_seconds)


def decode_cells_seconds(num_cells: int = 40, repeats: int = 3
                         ) -> dict[str, float]:
  """One decoding of `num_cells` (tau, expectile) pairs exactly as the Dabney
  et al. 2020 reproduction decodes the recordings (decode_reward_distribution
  with the reproduction's Settings: pooled JAX + optax runs, each from the best
  of many random sample sets, bounds [0.1, 20] ul), best of `repeats`, compile
  excluded (the first call, with compilation, is reported beside it)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from agents.analysis import dabney2020  # pylint: disable=g-import-not-at-top
  from agents.analysis import dopamine  # pylint: disable=g-import-not-at-top
  settings = dabney2020.Settings()
  taus = (np.arange(num_cells) + 0.5) / num_cells
  expectiles = dopamine.expectiles_of_distribution(
      np.asarray(dopamine.TRUE_MAGNITUDES_UL),
      np.asarray(dopamine.TRUE_PROBABILITIES), taus)
  run = lambda seed: dopamine.decode_reward_distribution(
      taus, expectiles, key=seed, num_restarts=settings.imputation_restarts,
      num_candidates=settings.imputation_candidates,
      steps=settings.imputation_steps, bounds=(0.1, 20.0),
      tau_clip=dopamine.DECODING_TAU_CLIP)
  start = time.perf_counter()
  run(0)
  first = time.perf_counter() - start
  best = float("inf")
  for i in range(repeats):
    start = time.perf_counter()
    run(i + 1)
    best = min(best, time.perf_counter() - start)
  return dict(seconds=best, first_call_seconds=first, num_cells=num_cells,
              num_restarts=settings.imputation_restarts,
              num_candidates=settings.imputation_candidates,
              steps=settings.imputation_steps)
