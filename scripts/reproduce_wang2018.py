r"""Reproduces the meta-RL results of Wang et al. 2018 (and 2016) end to end.

  python -m scripts.reproduce_wang2018 --workdir=runs/wang2018
  python -m scripts.reproduce_wang2018 --workdir=/tmp/w --quick   # CI smoke
  python -m scripts.reproduce_wang2018 --workdir=DIR \
      --tasks=bandit_independent --seed=4   # one task, training seeds 4..7

Trains the recurrent A2C agent on every task into DIR/<task>/ (an
interrupted run resumes), --num_seeds training seeds (default 4) vmapped in
one compiled loop, evaluates every seed frozen on the same held-out
episodes, measures when each independent-bandit seed gets to Thompson
sampling's regret and stays there, and writes DIR/summary.json (mean +- sd
and every seed's value), the figures DIR/*.png (each seed thin, the mean
thick) and a table with the whole run's wall time. What each number is:
agents/analysis/wang2018.py (its EXPERIMENTS registry lists the tasks).
"""

from __future__ import annotations

from absl import app
from absl import flags

from scripts import _cli

_WORKDIR = flags.DEFINE_string("workdir", None, "output directory")
_QUICK = flags.DEFINE_bool("quick", False, "tiny runs for a smoke test")
_TASKS = flags.DEFINE_list("tasks", None, "subset of tasks (default: all)")
_EPISODES = flags.DEFINE_integer(
    "eval_episodes", 1000, "held-out evaluation episodes per task"
)
_SEED = flags.DEFINE_integer(
    "seed",
    None,
    "first training seed of every task (seeds S..S+num_seeds-1; default: "
    "the config's, 0)",
)
_NUM_SEEDS = flags.DEFINE_integer(
    "num_seeds", None, "training seeds per task (default 4; 2 with --quick)"
)
flags.mark_flags_as_required(["workdir"])


def _run():
  from agents.analysis import wang2018  # pylint: disable=g-import-not-at-top

  wang2018.run_reproduction(
      _WORKDIR.value,
      _QUICK.value,
      _TASKS.value or list(wang2018.TASKS),
      _EPISODES.value,
      seed=_SEED.value,
      num_seeds=_NUM_SEEDS.value,
  )


def main(argv):
  del argv
  _cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=_cli.parse_flags)
