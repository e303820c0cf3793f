r"""Replay as the brain's planner: the reproductions of issue 13.

  python -m scripts.reproduce_replay --workdir=runs/replay
  python -m scripts.reproduce_replay --workdir=DIR \
      --experiments=dyna_maze,sweeping
  python -m scripts.reproduce_replay --workdir=/tmp/r --quick      # smoke run

Experiments (agents/analysis/replay_experiments.py): dyna_maze (Sutton & Barto
Fig. 8.2), blocking_maze and shortcut_maze (Figs. 8.4-8.5), sweeping (Example
8.4). Writes DIR/*.png and DIR/summary.json (every number beside its anchor,
every seed's numbers) and ends with the table.
"""

from absl import app
from absl import flags

from scripts import _cli

_WORKDIR = flags.DEFINE_string("workdir", None, "output directory")
_EXPERIMENTS = flags.DEFINE_list(
    "experiments", None, "experiments to run (default: all)"
)
_QUICK = flags.DEFINE_bool("quick", False, "tiny runs for a smoke test")
_SEED = flags.DEFINE_integer("seed", 0, "seed of the runs' keys")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv

  def run():
    # pylint: disable-next=g-import-not-at-top
    from agents.analysis import replay_experiments

    names = replay_experiments.select(_EXPERIMENTS.value)
    summary = replay_experiments.run_all(
        names, _WORKDIR.value, _QUICK.value, _SEED.value
    )
    print(replay_experiments.table(summary))
    print(
        f"[reproduce_replay] {summary['wall_seconds']:.0f}s; "
        f"{_WORKDIR.value}/summary.json"
    )

  _cli.run_main(run)


if __name__ == "__main__":
  app.run(main, flags_parser=_cli.parse_flags)
