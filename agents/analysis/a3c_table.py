"""Table 2 of Mnih et al. 2016, "Asynchronous methods for deep reinforcement
learning" (ICML), at this machine's scale: data efficiency and speed-up of
the four algorithms against the number of actor-learners K.
`scripts/reproduce_a3c.py` is its command line.

The paper's Table 2 gives, per algorithm, the speed-up in training time to
a reference score with K = 1, 2, 4, 8, 16 threads over 1 thread (at 16:
one-step Q 24.1x, one-step Sarsa 22.1x, n-step Q 17.2x, A3C 12.5x; super-
linear because the one-step methods also need FEWER env steps with more
threads). Speed-up = (data efficiency ratio) x (throughput ratio):

  data efficiency  env steps to the threshold with K actor-learners
                   (`steps_to_threshold`), from the synchronous compiled loop
                   (config.loop = "anakin": K actors vmapped, each actor's
                   gradient applied in turn, lib/async_updates.py; all
                   `seeds` vmapped in one program). It does not depend on
                   the cores. Its ideal speed-up with one core per actor, as
                   in the paper, is K x steps(1) / steps(K).
  wall clock       seconds (segments only, no evaluation) to the threshold in
                   the hogwild loop (K Python threads, lock-free updates,
                   agents/runtime/hogwild.py), seed after seed; each seed's
                   run stops at its first crossing (nothing after it is
                   reported; its curve and `final_return` end there). On this
                   machine's 2 cores, with a tiny network and one environment
                   per thread (each thread's call is ~5 env steps), the
                   measured speed-up is bounded by 2 and in practice by the
                   GIL and dispatch cost, not by the algorithms.

Threshold: the greedy evaluation return (`eval_episodes` episodes, frozen
weights, after every segment) first at or above `THRESHOLDS[env]`; a seed
that never reaches it within the budget counts as failed (reported, and
left out of that cell's mean). Steps and seconds are resolved to one
segment (`BUDGETS[env] / SEGMENTS` env steps: 2,000 on Catch, ~6,700 on
CartPole), so ratios between K closer than that are noise. Stability (the paper's Section 5.3 claim,
"all four learn"): every seed at every K reaches the CartPole threshold.

Cost: most of a data-efficiency cell is compiling its programs, so those
cells are built and compiled ahead, two at a time, on background threads
(their seconds, unused by the table, include that load), and
`shared_compilation_cache` (the script enters it) compiles each distinct
XLA program once per process (the evaluation is the same for every K, and
the three value-based algorithms share their network). summary.json's
`seconds`, `cpu_seconds` and `part_seconds` say where the time went; the
table's last line repeats them.

`run_reproduction` writes DIR/summary.json (every seed's numbers), the
figures DIR/curves_<env>.png and DIR/speedup.png, and returns the printed
table (`format_table`).
"""

from __future__ import annotations

from concurrent import futures
import contextlib
import importlib
import json
import math
import os
import tempfile
import time
from typing import Any, Callable

import jax
import numpy as np

from agents.analysis import seed_stats
from agents.runtime import train as train_lib
from agents.runtime import workdir as workdir_lib
from agents.runtime.errors import UserError

ALGORITHMS = ("one_step_q", "one_step_sarsa", "n_step_q", "a3c")
ENVS = ("catch", "cartpole")
ACTORS = (1, 2, 4, 8)
THRESHOLDS = {"catch": 0.8, "cartpole": 150.0}
# Env steps per seed and segments (threshold checks) per run.
BUDGETS = {"catch": 30_000, "cartpole": 100_000}
SEGMENTS = 15
PAPER_SPEEDUP_16 = {
    "one_step_q": 24.1,
    "one_step_sarsa": 22.1,
    "n_step_q": 17.2,
    "a3c": 12.5,
}
EVAL_SEED = 1_000_003
PREFETCH = 2  # data-efficiency cells built and compiled ahead, in parallel


def make_config(
    algorithm: str,
    env: str,
    num_actors: int,
    loop: str,
    num_seeds: int,
    total_env_steps: int,
    eval_episodes: int,
):
  """The algorithm's preset for `env` with K actor-learners."""
  if algorithm not in ALGORITHMS:
    raise UserError(
        f"unknown algorithm {algorithm!r}; allowed: " + ", ".join(ALGORITHMS)
    )
  if env not in ENVS:
    raise UserError(f"unknown env {env!r}; allowed: " + ", ".join(ENVS))
  config = importlib.import_module(f"configs.{algorithm}").get_config(env)
  config.num_envs = num_actors
  config.num_actors = num_actors
  config.loop = loop
  config.num_seeds = num_seeds
  config.total_env_steps = total_env_steps
  # A whole number of iterations (K actors x t_max steps) per segment.
  per_iteration = num_actors * config.rollout_length
  config.log_every_env_steps = max(
      per_iteration,
      total_env_steps // SEGMENTS // per_iteration * per_iteration,
  )
  config.eval_episodes = eval_episodes
  return config


def build_and_compile(config, seeds: list[int]):
  """(loop, its initial state for `seeds`, seconds): the loop built and its
  programs compiled (`prepare`)."""
  t0 = time.perf_counter()
  _, loop = train_lib.build_loop(config)
  state = loop.init(seeds)
  loop.prepare(state)
  return loop, state, time.perf_counter() - t0


def run_curves(
    config,
    seed_groups: list[list[int]],
    stop_at: float | None = None,
    prepared: futures.Future | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
  """Greedy evaluation return after every segment, per seed, through the
  loop interface (agents/runtime/loops.py); one build and compile for all
  seed groups. Returns env_steps [S], seconds [seed, <= S] (cumulative
  segment time), returns [seed, <= S], compile_seconds (init and prepare)
  and run_seconds (segments and evaluations).

  `stop_at`: a group stops after the segment by which every one of its
  seeds has reached this greedy return (its curves end there). Where only
  the first crossing is used (the wall-clock part: seconds to the
  threshold), the segments after it change nothing that is reported.
  `progress`, if given, gets one line per segment (its env steps and the
  seeds' mean return).
  """
  if prepared is None:
    loop, state, compile_seconds = build_and_compile(config, seed_groups[0])
  else:
    loop, state, compile_seconds = prepared.result()
  num_segments = math.ceil(config.total_env_steps / loop.env_steps_per_segment)
  seconds, returns = [], []
  run_seconds = 0.0
  try:
    for group, seeds in enumerate(seed_groups):
      if group:
        t0 = time.perf_counter()
        state = loop.init(seeds)
        loop.prepare(state)
        compile_seconds += time.perf_counter() - t0
      t_run = time.perf_counter()
      elapsed = np.zeros(len(seeds))
      crossed = np.zeros(len(seeds), bool)
      group_seconds, group_returns = [], []
      for segment in range(num_segments):
        t0 = time.perf_counter()
        state, _ = loop.run_segment(state)
        jax.block_until_ready(state)
        elapsed = elapsed + (time.perf_counter() - t0)
        key = jax.random.PRNGKey(EVAL_SEED + segment)
        episode_returns, _ = loop.evaluate(state, key, config.eval_episodes)
        group_seconds.append(elapsed.copy())
        group_returns.append(np.mean(episode_returns, axis=-1))
        if progress is not None:
          progress(
              f"segment {segment + 1}/{num_segments}: "
              f"{(segment + 1) * loop.env_steps_per_segment:,} env steps, "
              f"greedy return {np.mean(group_returns[-1]):.1f} (mean of "
              f"{len(seeds)} seeds), {elapsed.max():.0f}s"
          )
        if stop_at is not None:
          crossed |= group_returns[-1] >= stop_at
          if crossed.all():
            break
      run_seconds += time.perf_counter() - t_run
      seconds.extend(np.stack(group_seconds, -1).tolist())
      returns.extend(np.stack(group_returns, -1).tolist())
  finally:
    loop.close()
  env_steps = loop.env_steps_per_segment * np.arange(1, num_segments + 1)
  return dict(
      env_steps=env_steps.tolist(),
      seconds=seconds,
      returns=returns,
      compile_seconds=compile_seconds,
      run_seconds=run_seconds,
  )


@contextlib.contextmanager
def shared_compilation_cache():
  """Within it, every XLA program is compiled once per process: JAX's
  persistent compilation cache in a temporary directory, removed on exit.

  The table's cells rebuild their loops (one per algorithm, task and K),
  and many of their programs are the same: the greedy evaluation does not
  depend on K, and one-step Q, Sarsa and n-step Q share their network, so
  their evaluation and init programs are identical. The cache keys on the
  program itself (XLA's fingerprint), so a hit is the very executable a
  compile would give. Left alone when the user has set a cache directory.
  Process-wide (jax.config): the script enters it once, before compiling.
  """
  if jax.config.jax_compilation_cache_dir:
    yield
    return
  names = (
      "jax_compilation_cache_dir",
      "jax_persistent_cache_min_compile_time_secs",
  )
  before = {name: getattr(jax.config, name) for name in names}
  with tempfile.TemporaryDirectory(prefix="reproduce_a3c_xla_") as cache:
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    try:
      yield
    finally:
      for name, value in before.items():
        jax.config.update(name, value)


def first_crossing(
    values: np.ndarray, returns: np.ndarray, threshold: float
) -> float | None:
  """values[i] at the first i with returns[i] >= threshold (None: never)."""
  hits = np.flatnonzero(np.asarray(returns) >= threshold)
  return float(np.asarray(values)[hits[0]]) if hits.size else None


def analyse(curves: dict, env: str) -> dict[str, Any]:
  """Steps (and, for hogwild curves, seconds) to the threshold per seed."""
  threshold = THRESHOLDS[env]
  steps = [
      first_crossing(curves["env_steps"], r, threshold)
      for r in curves["returns"]
  ]
  seconds = [
      first_crossing(s, r, threshold)
      for s, r in zip(curves["seconds"], curves["returns"])
  ]
  return dict(
      steps=seed_stats.reached_stats(steps),
      seconds=seed_stats.reached_stats(seconds),
      final_return=[float(r[-1]) for r in curves["returns"]],
  )


def _ratio(base: float | None, other: float | None) -> float | None:
  if base is None or other is None or other <= 0:
    return None
  return base / other


def speedups(cells: dict[int, dict], key: str) -> dict[int, float | None]:
  """{K: mean(key)(K=1) / mean(key)(K)} of one algorithm on one env."""
  base = cells.get(1, {}).get(key, {}).get("mean")
  return {k: _ratio(base, cell[key]["mean"]) for k, cell in cells.items()}


def run_reproduction(
    workdir: str,
    *,
    algorithms=ALGORITHMS,
    envs=ENVS,
    actors=ACTORS,
    seeds: int = 4,
    wall_clock_envs=("catch",),
    budgets=None,
    eval_episodes: int = 20,
    log: Callable[[str], None] = print,
) -> str:
  """Runs both parts, writes summary.json and figures; returns the table."""
  budgets = dict(BUDGETS, **(budgets or {}))
  workdir_lib.ensure_writable_dir(workdir)
  os.makedirs(workdir, exist_ok=True)
  summary: dict[str, Any] = dict(
      paper="Mnih et al. 2016, Table 2",
      thresholds=THRESHOLDS,
      budgets=budgets,
      seeds=list(range(seeds)),
      actors=list(actors),
      paper_speedup_16_threads=PAPER_SPEEDUP_16,
      devices=jax.device_count(),
      cpu_cores=os.cpu_count(),
      data_efficiency={},
      wall_clock={},
  )
  t_start, cpu_start = time.perf_counter(), time.process_time()
  part_seconds = summary["part_seconds"] = {}
  cells_todo = [
      (part, loop, env, algorithm, k)
      for part, loop, part_envs in (
          ("data_efficiency", "anakin", envs),
          ("wall_clock", "hogwild", wall_clock_envs),
      )
      for env in part_envs
      for algorithm in algorithms
      for k in actors
  ]

  def groups_of(loop: str) -> list[list[int]]:
    if loop == "anakin":  # seeds vmapped in one program
      return [list(range(seeds))]
    return [[s] for s in range(seeds)]  # hogwild: seed after seed

  def config_of(i: int):
    _, loop, env, algorithm, k = cells_todo[i]
    return make_config(
        algorithm,
        env,
        k,
        loop,
        len(groups_of(loop)[0]),
        budgets[env],
        eval_episodes,
    )

  # The data-efficiency cells (whose seconds the table does not use) are
  # built and compiled ahead, PREFETCH at a time, on background threads
  # while the current cell trains: compiling is most of their cost, and
  # XLA compiles outside the GIL. The hogwild cells, whose wall seconds the
  # table reports, run with nothing else compiling.
  compiler = futures.ThreadPoolExecutor(max_workers=PREFETCH)
  prepared: dict[int, futures.Future] = {}
  try:
    for i, (part, loop, env, algorithm, k) in enumerate(cells_todo):
      for j in range(i, min(i + PREFETCH + 1, len(cells_todo))):
        if cells_todo[j][1] == "anakin" and j not in prepared:
          prepared[j] = compiler.submit(
              build_and_compile, config_of(j), groups_of("anakin")[0]
          )
      cells = summary[part].setdefault(env, {}).setdefault(algorithm, {})
      # The wall-clock part reports only seconds to the threshold: each
      # seed's run stops at its first crossing.
      stop_at = THRESHOLDS[env] if loop == "hogwild" else None
      t_cell = time.perf_counter()
      curves = run_curves(
          config_of(i), groups_of(loop), stop_at, prepared.pop(i, None)
      )
      times = part_seconds.setdefault(
          part, dict(wall=0.0, compile=0.0, run=0.0)
      )
      times["wall"] += time.perf_counter() - t_cell
      times["compile"] += curves["compile_seconds"]
      times["run"] += curves["run_seconds"]
      cell = analyse(curves, env)
      cell["curves"] = curves
      cells[k] = cell
      log(
          f"[a3c table] {part} {env} {algorithm} K={k}: steps to "
          f"{THRESHOLDS[env]:g} {seed_stats.format_reached(cell['steps'])}, seconds "
          f"{seed_stats.format_reached(cell['seconds'], 1)} | "
          f"{time.perf_counter() - t_start:.0f}s elapsed"
      )
      if k != actors[-1]:
        continue
      for key in ("steps", "seconds"):
        for kk, ratio in speedups(cells, key).items():
          cells[kk][f"{key}_speedup"] = ratio
      for kk, c in cells.items():
        ratio = c["steps_speedup"]
        c["ideal_speedup"] = None if ratio is None else kk * ratio
      workdir_lib.write_json_atomic(
          os.path.join(workdir, "summary.json"), workdir_lib.jsonable(summary)
      )
  finally:
    compiler.shutdown(wait=True, cancel_futures=True)
    for future in prepared.values():  # built ahead, never run (an error)
      if future.done() and future.exception() is None:
        future.result()[0].close()
  summary["stability"] = stability(summary)
  summary["seconds"] = time.perf_counter() - t_start
  summary["cpu_seconds"] = time.process_time() - cpu_start
  workdir_lib.write_json_atomic(
      os.path.join(workdir, "summary.json"), workdir_lib.jsonable(summary)
  )
  write_figures(summary, workdir)
  return format_table(summary)


def stability(summary: dict) -> dict[str, Any]:
  """Per algorithm: CartPole (seed, K) runs that reached the threshold."""
  cartpole = summary["data_efficiency"].get("cartpole", {})
  out = {}
  for algorithm, cells in cartpole.items():
    reached = sum(c["steps"]["reached"] for c in cells.values())
    runs = sum(c["steps"]["seeds"] for c in cells.values())
    out[algorithm] = dict(
        reached=reached, runs=runs, every_seed=reached == runs
    )
  return out


def _fx(x: float | None) -> str:
  return "-" if x is None else f"{x:.2f}x"


def format_table(summary: dict) -> str:
  """The printed Table 2: per env, algorithm and K."""
  lines = [
      "Table 2 (Mnih et al. 2016) at this scale: env steps to the "
      "threshold (synchronous loop, seeds vmapped), data-efficiency "
      "ratio steps(1)/steps(K), ideal speed-up K x ratio (one core per "
      "actor, as the paper); hogwild wall seconds to the threshold and "
      "measured speed-up (2 cores)."
  ]
  header = (
      f"{'env':9}{'algorithm':16}{'K':>3}  {'env steps':>26}"
      f"{'ratio':>8}{'ideal':>8}  {'hogwild s':>20}{'speed-up':>9}"
  )
  for env, algorithms in summary["data_efficiency"].items():
    lines += [
        "",
        f"{env}: threshold {THRESHOLDS[env]:g} (greedy return)",
        header,
    ]
    for algorithm, cells in algorithms.items():
      wall = summary["wall_clock"].get(env, {}).get(algorithm, {})
      for k, cell in cells.items():
        w = wall.get(k)
        lines.append(
            f"{env:9}{algorithm:16}{k:>3}  {seed_stats.format_reached(cell['steps']):>26}"
            f"{_fx(cell['steps_speedup']):>8}{_fx(cell['ideal_speedup']):>8}"
            f"  {(seed_stats.format_reached(w['seconds'], 1) if w else '-'):>20}"
            f"{(_fx(w['seconds_speedup']) if w else '-'):>9}"
        )
    lines.append(
        "paper at 16 threads: "
        + ", ".join(f"{a} {s}x" for a, s in PAPER_SPEEDUP_16.items())
    )
  if "stability" in summary:
    lines += [
        "",
        "stability (CartPole, every seed at every K reaches the "
        "threshold): "
        + ", ".join(
            f"{a} {s['reached']}/{s['runs']}"
            for a, s in summary["stability"].items()
        ),
    ]
  if "seconds" in summary:
    parts = "; ".join(
        f"{part} {t['wall']:.0f} s: {t['compile']:.0f} s building and "
        f"compiling (summed over threads), {t['run']:.0f} s training and "
        "evaluating"
        for part, t in summary.get("part_seconds", {}).items()
    )
    lines += [
        "",
        f"took {summary['seconds']:.0f} s ({summary['seconds'] / 60:.1f} "
        f"min) wall, {summary.get('cpu_seconds', float('nan')):.0f} s CPU"
        + (f" ({parts})" if parts else ""),
    ]
  return "\n".join(lines)


def write_figures(summary: dict, workdir: str) -> list[str]:
  """curves_<env>.png (greedy return vs env steps, mean over seeds, one line
  per K) and speedup.png (ideal and measured speed-up vs K)."""
  import matplotlib  # pylint: disable=import-outside-toplevel

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  paths = []
  for env, algorithms in summary["data_efficiency"].items():
    fig, axes = plt.subplots(
        1, len(algorithms), figsize=(4 * len(algorithms), 3.2), squeeze=False
    )
    for ax, (algorithm, cells) in zip(axes[0], algorithms.items()):
      for k, cell in cells.items():
        curves = cell["curves"]
        ax.plot(
            curves["env_steps"], np.mean(curves["returns"], 0), label=f"K={k}"
        )
      ax.axhline(THRESHOLDS[env], color="gray", ls="--", lw=0.8)
      ax.set_title(algorithm)
      ax.set_xlabel("env steps per seed")
    axes[0][0].set_ylabel("greedy return (mean over seeds)")
    axes[0][0].legend()
    fig.tight_layout()
    path = os.path.join(workdir, f"curves_{env}.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)
  fig, axes = plt.subplots(
      1,
      len(summary["data_efficiency"]),
      figsize=(5 * len(summary["data_efficiency"]), 3.5),
      squeeze=False,
  )
  for ax, (env, algorithms) in zip(axes[0], summary["data_efficiency"].items()):
    for algorithm, cells in algorithms.items():
      ks = list(cells)
      ideal = [cells[k]["ideal_speedup"] or np.nan for k in ks]
      (line,) = ax.plot(ks, ideal, marker="o", label=f"{algorithm} (ideal)")
      wall = summary["wall_clock"].get(env, {}).get(algorithm)
      if wall:
        ax.plot(
            list(wall),
            [wall[k]["seconds_speedup"] or np.nan for k in wall],
            marker="x",
            ls=":",
            color=line.get_color(),
            label=f"{algorithm} (hogwild)",
        )
    ax.plot(
        [1, max(summary["actors"])],
        [1, max(summary["actors"])],
        color="gray",
        lw=0.8,
        label="linear",
    )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_title(f"{env}: speed-up vs K")
    ax.set_xlabel("actor-learners K")
    ax.legend(fontsize=6)
  fig.tight_layout()
  path = os.path.join(workdir, "speedup.png")
  fig.savefig(path, dpi=100)
  plt.close(fig)
  paths.append(path)
  return paths


def load(workdir: str) -> dict:
  with open(os.path.join(workdir, "summary.json")) as f:
    return json.load(f)
