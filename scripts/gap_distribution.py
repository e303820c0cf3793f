r"""Jump the gap: distributional agents learn both peaks, DQN learns the mean.

Trains QR-DQN, IQN, ER-DQN and DQN (their `gap` presets) on `jump_the_gap`
and compares each learned return distribution at the start state with the
true one: DIR/gap_distribution.png, DIR/gap_distribution.json (W1 of each),
DIR/<agent>/ (each run). What each number is:
agents/analysis/gap_distribution.py.

  python -m scripts.gap_distribution --workdir=runs/gap
  python -m scripts.gap_distribution --workdir=/tmp/g --total_env_steps=2000
"""

from __future__ import annotations

from absl import app
from absl import flags

from scripts import _cli

_WORKDIR = flags.DEFINE_string("workdir", None, "directory for the results")
_AGENTS = flags.DEFINE_list(
    "agents",
    ["qr_dqn", "iqn", "er_dqn", "dqn"],
    "agents to train (configs/<agent>.py:gap)",
)
_TOTAL_ENV_STEPS = flags.DEFINE_integer(
    "total_env_steps", None, "override the presets' training length"
)
_SEED = flags.DEFINE_integer("seed", 0, "seed of every run")
_EVAL_EPISODES = flags.DEFINE_integer(
    "eval_episodes", None, "override the presets' eval episodes"
)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "delete runs with a different config"
)
flags.mark_flags_as_required(["workdir"])


def _run():
  # pylint: disable-next=g-import-not-at-top
  from agents.analysis import gap_distribution

  gap_distribution.run(
      _WORKDIR.value,
      _AGENTS.value,
      seed=_SEED.value,
      total_env_steps=_TOTAL_ENV_STEPS.value,
      eval_episodes=_EVAL_EPISODES.value,
      overwrite=_OVERWRITE.value,
  )


def main(argv):
  del argv
  _cli.run_main(_run)


if __name__ == "__main__":
  app.run(main, flags_parser=_cli.parse_flags)
