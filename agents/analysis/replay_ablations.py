"""Replay ablations of the DQN family (issue 12, item 4): what each kind of
replay buys a deep agent, as env steps and gradient updates to a return
threshold, over seeds.

Four variants of one agent's preset (`variant_config`), differing only in
replay (`agents/replay`, `config.replay`):

  no_replay    learn from the latest rollout only: a uniform buffer whose
               capacity is one rollout's transitions (num_envs x
               rollout_length), so each gradient step samples (with
               replacement) only from what the environments just produced;
               the batch is that capacity (if the preset's batch is larger),
               and learning starts once the first rollout is in;
  uniform      the preset as it is (Mnih et al. 2015);
  prioritized  proportional prioritized replay (Schaul et al. 2016) with the
               keys' defaults of configs/dqn.py;
  imagination  uniform replay plus a learned model's synthetic transitions
               mixed into each batch (Dyna, Sutton 1991), the keys' defaults.

Everything else (network, optimizer, schedule, env steps) is the preset's,
and every variant runs `num_seeds` seeds vmapped in ONE call of the project's
driver (`agents.runtime.train.train`).

Measures, per seed, from the driver's metrics.csv (`episode_return_seed<i>`:
the mean return of the epsilon-greedy training episodes that ended in each
logged segment):
  env steps to threshold   the first logged env step at which the seed's
                           training return is >= the task's threshold (None:
                           never, within the run);
  updates to threshold     the gradient steps taken by then, counted from the
                           config as the learner takes them (`updates_at`);
and the greedy evaluation return at the end (the driver's summary.json).
"""

from __future__ import annotations

import csv
import importlib
import os
from typing import Any

import ml_collections
import numpy as np

VARIANTS = ("no_replay", "uniform", "prioritized", "imagination")
AGENTS = ("dqn", "qr_dqn")
TASKS = ("catch", "cartpole")
DESCRIPTIONS = dict(
    no_replay="uniform buffer of capacity one rollout (num_envs x "
    "rollout_length): every gradient step samples only the latest rollout",
    uniform="the preset's uniform replay",
    prioritized="proportional prioritized replay, configs/dqn.py defaults",
    imagination="uniform replay plus model-generated transitions, "
    "configs/dqn.py defaults",
)
# Training-return thresholds (epsilon-greedy episodes, epsilon_end 0.05;
# on Catch a solved policy's greedy return is 1, its training return ~0.9).
THRESHOLDS = dict(catch=0.8, cartpole=400.0)
# Segment length for the curves (finer than the presets' log lines).
LOG_EVERY = dict(catch=2_048, cartpole=10_240)


def variant_config(
    agent: str,
    task: str,
    variant: str,
    *,
    num_seeds: int = 4,
    seed: int = 0,
    total_env_steps: int | None = None,
) -> ml_collections.ConfigDict:
  """`configs/<agent>.py:<task>` with the variant's replay, `num_seeds`
  seeds vmapped, and a log line every `LOG_EVERY[task]` env steps."""
  if agent not in AGENTS or task not in TASKS or variant not in VARIANTS:
    raise ValueError(
        f"unknown agent/task/variant {agent}/{task}/{variant}; "
        f"allowed: {AGENTS} x {TASKS} x {VARIANTS}"
    )
  config = importlib.import_module(f"configs.{agent}").get_config(task)
  config.num_seeds = num_seeds
  config.seed = seed
  if total_env_steps is not None:
    config.total_env_steps = total_env_steps
    config.min_replay_size = min(
        config.min_replay_size, max(total_env_steps // 4, 1)
    )
  config.log_every_env_steps = min(LOG_EVERY[task], config.total_env_steps)
  if variant == "no_replay":
    rollout = config.num_envs * config.rollout_length
    config.replay = "uniform"
    config.replay_capacity = rollout
    config.batch_size = min(config.batch_size, rollout)
    config.min_replay_size = rollout
  else:
    config.replay = variant
  return config


def updates_at(config, env_steps: int) -> int:
  """Gradient steps the learner has taken after `env_steps` env steps (per
  seed): `num_updates` per learn call, one learn call per num_envs x
  rollout_length env steps, from the first call after which the buffer holds
  `min_replay_size` items."""
  per_call = config.num_envs * config.rollout_length
  calls = env_steps // per_call
  first_ready = -(-config.min_replay_size // per_call)  # ceil
  return int(config.num_updates * max(0, calls - first_ready + 1))


def read_curves(workdir: str, num_seeds: int) -> tuple[np.ndarray, np.ndarray]:
  """(env_steps [S], returns [S, seeds]) from a run's metrics.csv."""
  with open(os.path.join(workdir, "metrics.csv")) as f:
    rows = list(csv.DictReader(f))
  steps = np.array([int(float(r["env_steps"])) for r in rows])
  if num_seeds == 1:
    returns = np.array([[float(r["episode_return_mean"])] for r in rows])
  else:
    returns = np.array(
        [
            [float(r[f"episode_return_seed{i}"]) for i in range(num_seeds)]
            for r in rows
        ]
    )
  return steps, returns


def steps_to_threshold(
    steps: np.ndarray, returns: np.ndarray, threshold: float
) -> list[int | None]:
  """Per seed, the first logged env step with return >= threshold (None:
  never). NaN returns (no episode ended in a segment) never count."""
  out = []
  for seed_returns in returns.T:
    hit = np.nonzero(np.nan_to_num(seed_returns, nan=-np.inf) >= threshold)[0]
    out.append(int(steps[hit[0]]) if hit.size else None)
  return out


def _spread(values: list[int | None]) -> dict[str, Any]:
  reached = [v for v in values if v is not None]
  if not reached:
    return dict(median=None, q25=None, q75=None, reached=0)
  q25, q50, q75 = np.percentile(np.array(reached, np.float64), [25, 50, 75])
  return dict(
      median=float(q50), q25=float(q25), q75=float(q75), reached=len(reached)
  )


def run_result(
    config, workdir: str, summary: dict[str, Any], threshold: float
) -> dict[str, Any]:
  """One variant's entry of the ablation summary, from its finished run."""
  steps, returns = read_curves(workdir, config.num_seeds)
  to_threshold = steps_to_threshold(steps, returns, threshold)
  updates = [None if s is None else updates_at(config, s) for s in to_threshold]
  return dict(
      threshold=threshold,
      seeds=summary["seeds"],
      env_steps=summary["env_steps"],
      total_updates=updates_at(config, summary["env_steps"]),
      env_steps_to_threshold=to_threshold,
      updates_to_threshold=updates,
      env_steps_to_threshold_spread=_spread(to_threshold),
      updates_to_threshold_spread=_spread(updates),
      eval_return_per_seed=summary["eval_return_per_seed"],
      eval_return_mean=summary["eval_return_mean"],
      env_steps_per_second=summary["env_steps_per_second"],
      wall_seconds=summary["wall_seconds"],
      replay=config.replay,
      replay_capacity=config.replay_capacity,
      batch_size=config.batch_size,
      min_replay_size=config.min_replay_size,
      curve=dict(
          env_steps=steps.tolist(),
          returns=[
              [None if np.isnan(x) else float(x) for x in row]
              for row in returns
          ],
      ),
  )


def table_rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
  """Printed table, one row per (agent, task, variant)."""

  def cell(spread, seeds):
    if spread["median"] is None:
      return f"never (0/{seeds})"
    return (
        f"{spread['median']:,.0f} [{spread['q25']:,.0f}, "
        f"{spread['q75']:,.0f}] ({spread['reached']}/{seeds})"
    )

  rows = [
      (
          "run",
          "threshold",
          "env steps to thr. median [q25, q75]",
          "updates to thr.",
          "greedy eval return per seed",
          "steps/s",
      )
  ]
  for name, r in results.items():
    seeds = len(r["seeds"])
    rows.append(
        (
            name,
            f"{r['threshold']:g}",
            cell(r["env_steps_to_threshold_spread"], seeds),
            cell(r["updates_to_threshold_spread"], seeds),
            " ".join(f"{x:.2f}" for x in r["eval_return_per_seed"]),
            f"{r['env_steps_per_second']:,.0f}",
        )
    )
  return rows


def plot(results: dict[str, dict[str, Any]], path: str) -> None:
  """One figure: a panel per (agent, task), a line per variant (mean over
  seeds, band min..max), the threshold dashed."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  panels = sorted({name.rsplit("/", 1)[0] for name in results})
  fig, axes = plt.subplots(
      1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False
  )
  for ax, panel in zip(axes[0], panels):
    for i, variant in enumerate(VARIANTS):
      r = results.get(f"{panel}/{variant}")
      if r is None:
        continue
      steps = np.array(r["curve"]["env_steps"])
      returns = np.array(r["curve"]["returns"], np.float64)
      ax.plot(steps, np.nanmean(returns, 1), color=f"C{i}", label=variant)
      ax.fill_between(
          steps,
          np.nanmin(returns, 1),
          np.nanmax(returns, 1),
          color=f"C{i}",
          alpha=0.15,
          lw=0,
      )
      threshold = r["threshold"]
    ax.axhline(threshold, color="k", ls="--", lw=0.8)
    ax.set_title(panel)
    ax.set_xlabel("env steps (per seed)")
    ax.set_ylabel("training episode return")
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
