r"""Greedy evaluation of a trained run with frozen weights; writes DIR/eval.json.

  python -m scripts.evaluate --workdir=runs/dqn_catch --episodes=1000
"""

from absl import app
from absl import flags

from scripts import _cli

_WORKDIR = flags.DEFINE_string("workdir", None, "a directory written by scripts.train")
_EPISODES = flags.DEFINE_integer("episodes", 100, "evaluation episodes per seed")
_SEED = flags.DEFINE_integer("seed", 0, "evaluation seed")
flags.mark_flags_as_required(["workdir"])


def run(workdir: str, episodes: int, seed: int) -> None:
  from agents.runtime import evaluate_run  # pylint: disable=g-import-not-at-top
  evaluate_run.evaluate_workdir(workdir, episodes, seed)


def main(argv):
  del argv
  _cli.run_main(lambda: run(_WORKDIR.value, _EPISODES.value, _SEED.value))


if __name__ == "__main__":
  app.run(main, flags_parser=_cli.parse_flags)
