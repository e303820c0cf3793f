r"""Replay ablations: no replay, uniform, prioritized, uniform + imagination.

Trains each agent on each task's preset (configs/<agent>.py:<task>) once per
replay variant (agents/analysis/replay_ablations.py says what each variant
is), `num_seeds` seeds vmapped per run, through the project's driver:

  DIR/<agent>_<task>_<variant>/   each run (train.train's workdir)
  DIR/replay_ablations.png        learning curves, a panel per agent x task
  DIR/summary.json                per run: every seed's env steps and updates
                                  to the return threshold, median [q25, q75],
                                  greedy eval returns, the curves

  python -m scripts.replay_ablations --workdir=runs/replay_ablations
  python -m scripts.replay_ablations --workdir=/tmp/ra --tasks=catch \
      --agents=dqn --variants=uniform,prioritized --total_env_steps=4096
"""

from __future__ import annotations

import os

from absl import app
from absl import flags

from scripts import _cli

_WORKDIR = flags.DEFINE_string("workdir", None, "directory for the results")
_AGENTS = flags.DEFINE_list("agents", ["dqn", "qr_dqn"], "agents")
_TASKS = flags.DEFINE_list("tasks", ["catch", "cartpole"], "tasks (presets)")
_VARIANTS = flags.DEFINE_list(
    "variants",
    ["no_replay", "uniform", "prioritized", "imagination"],
    "replay variants",
)
_NUM_SEEDS = flags.DEFINE_integer("num_seeds", 4, "seeds per run (vmapped)")
_SEED = flags.DEFINE_integer("seed", 0, "first seed")
_TOTAL_ENV_STEPS = flags.DEFINE_integer(
    "total_env_steps", None, "override the presets' training length"
)
_EVAL_EPISODES = flags.DEFINE_integer(
    "eval_episodes", None, "override the presets' eval episodes"
)
_THRESHOLDS = flags.DEFINE_list(
    "thresholds",
    None,
    "task=return pairs overriding the default training-"
    "return thresholds (catch=0.8, cartpole=400)",
)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "delete runs with a different config"
)
flags.mark_flags_as_required(["workdir"])


def _check(values, allowed, what):
  from agents.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from agents.runtime.errors import UserError  # pylint: disable=g-import-not-at-top

  bad = [v for v in values if v not in allowed]
  if bad or not values:
    raise UserError(
        f"unknown {what} {bad or values!r}; allowed: " f"{', '.join(allowed)}"
    )


def _thresholds(ra) -> dict[str, float]:
  from agents.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from agents.runtime.errors import UserError  # pylint: disable=g-import-not-at-top

  thresholds = dict(ra.THRESHOLDS)
  for pair in _THRESHOLDS.value or []:
    task, _, value = pair.partition("=")
    try:
      thresholds[task] = float(value)
    except ValueError:
      raise UserError(f"--thresholds: {pair!r} is not task=number") from None
  return thresholds


def run() -> dict:
  from agents.analysis import replay_ablations as ra  # pylint: disable=g-import-not-at-top
  from agents.runtime import train  # pylint: disable=g-import-not-at-top
  from agents.runtime.benchmarks import format_table  # pylint: disable=g-import-not-at-top
  from agents.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from agents.runtime.errors import UserError  # pylint: disable=g-import-not-at-top

  _check(_AGENTS.value, ra.AGENTS, "agents")
  _check(_TASKS.value, ra.TASKS, "tasks")
  _check(_VARIANTS.value, ra.VARIANTS, "variants")
  if _NUM_SEEDS.value < 1:
    raise UserError(f"num_seeds must be >= 1, got {_NUM_SEEDS.value}")
  thresholds = _thresholds(ra)
  workdir = _WORKDIR.value
  workdir_lib.ensure_writable_dir(workdir)
  os.makedirs(workdir, exist_ok=True)
  results = {}
  for agent in _AGENTS.value:
    for task in _TASKS.value:
      for variant in _VARIANTS.value:
        config = ra.variant_config(
            agent,
            task,
            variant,
            num_seeds=_NUM_SEEDS.value,
            seed=_SEED.value,
            total_env_steps=_TOTAL_ENV_STEPS.value,
        )
        if _EVAL_EPISODES.value is not None:
          config.eval_episodes = _EVAL_EPISODES.value
        run_dir = os.path.join(workdir, f"{agent}_{task}_{variant}")
        summary = train.train(
            config, run_dir, overwrite=_OVERWRITE.value
        ).summary
        results[f"{agent}/{task}/{variant}"] = ra.run_result(
            config, run_dir, summary, thresholds[task]
        )
  ra.plot(results, os.path.join(workdir, "replay_ablations.png"))
  workdir_lib.write_json_atomic(
      os.path.join(workdir, "summary.json"),
      dict(variants=ra.DESCRIPTIONS, thresholds=thresholds, runs=results),
  )
  print(format_table(ra.table_rows(results)))
  print(f"wrote {workdir}/replay_ablations.png and summary.json")
  return results


def main(argv):
  del argv
  _cli.run_main(run)


if __name__ == "__main__":
  app.run(main, flags_parser=_cli.parse_flags)
