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
                   agents/runtime/hogwild.py), seed after seed. On this
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

`run_reproduction` writes DIR/summary.json (every seed's numbers), the
figures DIR/curves_<env>.png and DIR/speedup.png, and returns the printed
table (`format_table`).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import time
from typing import Any, Callable

import jax
import numpy as np

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


def run_curves(
    config,
    seed_groups: list[list[int]],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
  """Greedy evaluation return after every segment, per seed, through the
  loop interface (agents/runtime/loops.py); one build and compile for all
  seed groups. Returns env_steps [S], seconds [seed, S] (cumulative segment
  time), returns [seed, S], compile_seconds. `progress`, if given, gets one
  line per segment (its env steps and the seeds' mean return)."""
  _, loop = train_lib.build_loop(config)
  num_segments = math.ceil(config.total_env_steps / loop.env_steps_per_segment)
  seconds, returns, compile_seconds = [], [], 0.0
  try:
    for seeds in seed_groups:
      state = loop.init(seeds)
      t0 = time.perf_counter()
      loop.prepare(state)
      compile_seconds += time.perf_counter() - t0
      elapsed = np.zeros(len(seeds))
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
      seconds.append(np.stack(group_seconds, -1))
      returns.append(np.stack(group_returns, -1))
  finally:
    loop.close()
  env_steps = loop.env_steps_per_segment * np.arange(1, num_segments + 1)
  return dict(
      env_steps=env_steps.tolist(),
      seconds=np.concatenate(seconds).tolist(),
      returns=np.concatenate(returns).tolist(),
      compile_seconds=compile_seconds,
  )


def first_crossing(
    values: np.ndarray, returns: np.ndarray, threshold: float
) -> float | None:
  """values[i] at the first i with returns[i] >= threshold (None: never)."""
  hits = np.flatnonzero(np.asarray(returns) >= threshold)
  return float(np.asarray(values)[hits[0]]) if hits.size else None


def _mean_spread(values: list[float | None]) -> dict[str, Any]:
  reached = [v for v in values if v is not None]
  return dict(
      mean=float(np.mean(reached)) if reached else None,
      std=float(np.std(reached)) if reached else None,
      reached=len(reached),
      seeds=len(values),
      per_seed=values,
  )


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
      steps=_mean_spread(steps),
      seconds=_mean_spread(seconds),
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
  t_start = time.perf_counter()
  for part, loop, part_envs in (
      ("data_efficiency", "anakin", envs),
      ("wall_clock", "hogwild", wall_clock_envs),
  ):
    for env in part_envs:
      for algorithm in algorithms:
        cells = summary[part].setdefault(env, {}).setdefault(algorithm, {})
        for k in actors:
          groups = (
              [list(range(seeds))]
              if loop == "anakin"
              else [[s] for s in range(seeds)]
          )
          config = make_config(
              algorithm,
              env,
              k,
              loop,
              len(groups[0]),
              budgets[env],
              eval_episodes,
          )
          curves = run_curves(config, groups)
          cell = analyse(curves, env)
          cell["curves"] = curves
          cells[k] = cell
          log(
              f"[a3c table] {part} {env} {algorithm} K={k}: steps to "
              f"{THRESHOLDS[env]:g} {_fmt(cell['steps'])}, seconds "
              f"{_fmt(cell['seconds'], 1)} | "
              f"{time.perf_counter() - t_start:.0f}s elapsed"
          )
        for key in ("steps", "seconds"):
          for k, ratio in speedups(cells, key).items():
            cells[k][f"{key}_speedup"] = ratio
        for k, cell in cells.items():
          ratio = cell["steps_speedup"]
          cell["ideal_speedup"] = None if ratio is None else k * ratio
        workdir_lib.write_json_atomic(
            os.path.join(workdir, "summary.json"), _jsonable(summary)
        )
  summary["stability"] = stability(summary)
  summary["seconds"] = time.perf_counter() - t_start
  workdir_lib.write_json_atomic(
      os.path.join(workdir, "summary.json"), _jsonable(summary)
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


def _fmt(stat: dict, digits: int = 0) -> str:
  if stat["mean"] is None:
    return f"never (0/{stat['seeds']})"
  text = f"{stat['mean']:,.{digits}f} +- {stat['std']:,.{digits}f}"
  if stat["reached"] < stat["seeds"]:
    text += f" ({stat['reached']}/{stat['seeds']})"
  return text


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
            f"{env:9}{algorithm:16}{k:>3}  {_fmt(cell['steps']):>26}"
            f"{_fx(cell['steps_speedup']):>8}{_fx(cell['ideal_speedup']):>8}"
            f"  {(_fmt(w['seconds'], 1) if w else '-'):>20}"
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


def _jsonable(tree):
  if isinstance(tree, dict):
    return {str(k): _jsonable(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return [_jsonable(v) for v in tree]
  if isinstance(tree, (np.floating, np.integer)):
    return tree.item()
  return tree


def load(workdir: str) -> dict:
  with open(os.path.join(workdir, "summary.json")) as f:
    return json.load(f)
