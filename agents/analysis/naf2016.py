"""Gu, Lillicrap, Sutskever & Levine 2016, "Continuous Deep Q-Learning with
Model-based Acceleration" (ICML), at this machine's scale: NAF against DDPG
(the paper's comparison, Lillicrap et al. 2016) on every continuous task
available, learning curves over seeds. `scripts/reproduce_naf.py` is its
command line.

The paper's anchors checked here:
  * NAF solves Pendulum: greedy return >= -200 (`THRESHOLDS`), averaged over
    100 evaluation episodes, on every seed;
  * NAF >= DDPG on most tasks (the paper's Table/Fig. 3 over MuJoCo tasks):
    final greedy return and env steps to the threshold, side by side.

What each number is: after every segment (`log_every_env_steps` of the
task's preset) the greedy policy mu(x) with frozen weights is evaluated on
`eval_episodes` episodes (agents/analysis/a3c_table.run_curves: all seeds
vmapped in one compiled program); "steps to threshold" is the first
segment's env steps (per seed) whose evaluation mean is >= the threshold
(None: never, reported as a failed seed); "final return" is the last
evaluation. Seeds first_seed .. first_seed + seeds - 1 (default 0 ..
seeds - 1), mean +- sd over seeds.

Variants: `VARIANTS` lists what is run on each task by default, each an
agent and a config override of that agent's preset (configs/naf.py,
configs/ddpg.py); `IMAGINATION_VARIANTS` adds NAF with imagination rollouts
(linear-Gaussian model at ratios 0.25 / 0.5 / 0.75, the neural model, and
configs/naf.py's IMAGINATION ensemble with its ratio and stop ablated),
chosen by name (`run_reproduction(variants=...)`, the script's --variants).

Tasks: `TASKS` are the task presets of configs/naf.py; a task whose environment
cannot be built here (the Control Suite tasks without the optional
`playground` package) is skipped with a printed note.

`run_reproduction` writes DIR/summary.json (every seed's numbers), one
figure per task DIR/curves_<task>.png, and returns the printed table.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import time
from typing import Any, Callable

import ml_collections
import numpy as np

from agents.analysis import a3c_table
from agents.analysis import seed_stats
from agents.runtime import workdir as workdir_lib
from agents.runtime.errors import UserError
from configs import naf as naf_config
from environments import registry as env_registry

TASKS = tuple(naf_config.TASKS)
# Greedy-return thresholds ("solved"): Pendulum, the issue's; Mountain Car,
# Gym's. The Control Suite tasks have none (final returns only).
THRESHOLDS = {"pendulum": -200.0, "mountain_car_continuous": 90.0}


@dataclasses.dataclass(frozen=True)
class Variant:
  """One curve per task: `agent`'s preset for the task, then `overrides`."""

  name: str
  agent: str
  overrides: dict[str, Any] = dataclasses.field(default_factory=dict)


VARIANTS = (Variant("naf", "naf"), Variant("ddpg", "ddpg"))


def _imagination(model: str, ratio: float) -> dict[str, Any]:
  return dict(
      replay="imagination", imagination_model=model, imagination_ratio=ratio
  )


# NAF with imagination rollouts (Gu et al. 2016, Section 5; agents/replay/
# imagination.py): the time-varying linear-Gaussian model at imagination
# ratios 0.25 / 0.5 / 0.75 (ratio 0 is "naf"), and the neural model.
IMAGINATION_VARIANTS = (
    Variant("naf+lg", "naf", _imagination("linear_gaussian", 0.5)),
    Variant("naf+lg-r0.25", "naf", _imagination("linear_gaussian", 0.25)),
    Variant("naf+lg-r0.75", "naf", _imagination("linear_gaussian", 0.75)),
    Variant("naf+neural", "naf", _imagination("neural", 0.5)),
    # configs/naf.py's IMAGINATION (its pendulum_imagination preset): the
    # ensemble, one-step rollouts, 8 model steps per learn call, imagination
    # off after 3,000 env steps; then its ratio and its stop ablated
    Variant("naf+ens", "naf", dict(naf_config.IMAGINATION)),
    Variant(
        "naf+ens-r0.25",
        "naf",
        dict(naf_config.IMAGINATION, imagination_ratio=0.25),
    ),
    Variant(
        "naf+ens-nostop",
        "naf",
        dict(naf_config.IMAGINATION, imagination_stop_env_steps=0),
    ),
)
ALL_VARIANTS = VARIANTS + IMAGINATION_VARIANTS


def make_config(
    variant: Variant,
    task: str,
    *,
    seeds: int,
    eval_episodes: int,
    total_env_steps: int | None = None,
    eval_every_env_steps: int | None = None,
) -> ml_collections.ConfigDict:
  """The variant's config on `task` (a configs/naf.py preset); evaluated
  every `eval_every_env_steps` (default: the preset's
  log_every_env_steps)."""
  if task not in TASKS:
    raise UserError(f"unknown task {task!r}; allowed: " + ", ".join(TASKS))
  config = importlib.import_module(f"configs.{variant.agent}").get_config(task)
  config.update(variant.overrides)
  config.num_seeds = seeds
  config.eval_episodes = eval_episodes
  if eval_every_env_steps is not None:
    config.log_every_env_steps = eval_every_env_steps
  if total_env_steps is not None:
    config.total_env_steps = total_env_steps
    config.log_every_env_steps = min(
        config.log_every_env_steps, total_env_steps
    )
  return config


def unavailable(task: str) -> str | None:
  """Why `task`'s environment cannot be built here, or None."""
  env = naf_config.TASKS[task]
  try:
    env_registry.make(env)
  except (env_registry.UnknownTaskError, UserError, ImportError) as e:
    return f"{env}: {e}"
  return None


def analyse(curves: dict, task: str) -> dict[str, Any]:
  """Per seed: env steps to the task's threshold and the final return."""
  threshold = THRESHOLDS.get(task)
  final = [float(r[-1]) for r in curves["returns"]]
  cell = dict(final_return=seed_stats.reached_stats(final))
  if threshold is not None:
    cell["steps_to_threshold"] = seed_stats.reached_stats(
        [
            a3c_table.first_crossing(curves["env_steps"], r, threshold)
            for r in curves["returns"]
        ]
    )
    cell["final_solved"] = sum(r >= threshold for r in final)
  return cell


def run_reproduction(
    workdir: str,
    *,
    tasks=("pendulum",),
    variants=VARIANTS,
    seeds: int = 4,
    eval_episodes: int = 100,
    total_env_steps: int | None = None,
    eval_every_env_steps: int | None = None,
    first_seed: int = 0,
    log: Callable[[str], None] = print,
) -> str:
  """Trains every variant on every available task (seeds first_seed ..
  first_seed + seeds - 1); writes summary.json and the figures; returns the
  table."""
  seed_list = list(range(first_seed, first_seed + seeds))
  workdir_lib.ensure_writable_dir(workdir)
  os.makedirs(workdir, exist_ok=True)
  summary: dict[str, Any] = dict(
      paper="Gu et al. 2016 (NAF) vs Lillicrap et al. 2016 (DDPG)",
      thresholds=THRESHOLDS,
      seeds=seed_list,
      eval_episodes=eval_episodes,
      variants={v.name: dataclasses.asdict(v) for v in variants},
      skipped={},
      tasks={},
  )
  t_start = time.perf_counter()
  for task in tasks:
    reason = unavailable(task)
    if reason is not None:
      log(f"[naf] skipping {task}: {reason}")
      summary["skipped"][task] = reason
      continue
    for variant in variants:
      config = make_config(
          variant,
          task,
          seeds=seeds,
          eval_episodes=eval_episodes,
          total_env_steps=total_env_steps,
          eval_every_env_steps=eval_every_env_steps,
      )
      log(
          f"[naf] {task} {variant.name}: {config.total_env_steps:,} env "
          f"steps x {seeds} seeds ..."
      )
      t0 = time.perf_counter()
      curves = a3c_table.run_curves(
          config,
          [seed_list],
          progress=lambda line, t=task, v=variant.name: log(
              f"[naf] {t} {v}: {line}"
          ),
      )
      cell = analyse(curves, task)
      cell.update(curves=curves, seconds=time.perf_counter() - t0)
      cell["config"] = dict(config.items())
      summary["tasks"].setdefault(task, {})[variant.name] = cell
      log(
          f"[naf] {task} {variant.name}: final greedy return "
          f"{seed_stats.format_reached(cell['final_return'], 1)}"
          + (
              f", steps to {THRESHOLDS[task]:g} "
              f"{seed_stats.format_reached(cell['steps_to_threshold'])}"
              if task in THRESHOLDS
              else ""
          )
          + f" | {cell['seconds']:.0f}s, "
          f"{time.perf_counter() - t_start:.0f}s elapsed"
      )
      workdir_lib.write_json_atomic(
          os.path.join(workdir, "summary.json"), workdir_lib.jsonable(summary)
      )
  summary["seconds"] = time.perf_counter() - t_start
  workdir_lib.write_json_atomic(
      os.path.join(workdir, "summary.json"), workdir_lib.jsonable(summary)
  )
  write_figures(summary, workdir)
  return format_table(summary)


def format_table(summary: dict) -> str:
  """Per task and variant: final greedy return, steps to the threshold."""
  lines = [
      f"NAF vs DDPG (Gu et al. 2016): greedy return over "
      f"{summary['eval_episodes']} episodes, mean +- sd over "
      f"{len(summary['seeds'])} seeds; env steps to the threshold (seeds "
      "that reached it)",
      f"{'task':26}{'variant':18}{'final return':>22}{'solved':>8}"
      f"{'steps to threshold':>26}",
  ]
  for task, cells in summary["tasks"].items():
    threshold = THRESHOLDS.get(task)
    for name, cell in cells.items():
      solved = (
          f"{cell['final_solved']}/{len(summary['seeds'])}"
          if threshold is not None
          else "-"
      )
      steps = (
          seed_stats.format_reached(cell["steps_to_threshold"])
          if threshold is not None
          else "-"
      )
      lines.append(
          f"{task:26}{name:18}{seed_stats.format_reached(cell['final_return'], 1):>22}"
          f"{solved:>8}{steps:>26}"
      )
  for task, reason in summary["skipped"].items():
    lines.append(f"{task:26}skipped: {reason}")
  return "\n".join(lines)


def write_figures(summary: dict, workdir: str) -> list[str]:
  """curves_<task>.png: greedy return vs env steps, mean +- sd over seeds,
  one line per variant, the threshold dashed."""
  import matplotlib  # pylint: disable=import-outside-toplevel

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  paths = []
  for task, cells in summary["tasks"].items():
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, cell in cells.items():
      steps = np.asarray(cell["curves"]["env_steps"])
      returns = np.asarray(cell["curves"]["returns"])
      mean, sd = returns.mean(0), returns.std(0)
      (line,) = ax.plot(steps, mean, label=name)
      ax.fill_between(
          steps, mean - sd, mean + sd, color=line.get_color(), alpha=0.2
      )
    if task in THRESHOLDS:
      ax.axhline(THRESHOLDS[task], color="gray", ls="--", lw=0.8)
    ax.set_title(
        f"{task}: greedy return ({summary['eval_episodes']} episodes), "
        f"{len(summary['seeds'])} seeds",
        fontsize=9,
    )
    ax.set_xlabel("env steps per seed")
    ax.set_ylabel("greedy return (mean +- sd)")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(workdir, f"curves_{task}.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)
  return paths
