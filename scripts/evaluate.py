r"""Greedy evaluation of a trained run with frozen weights; writes DIR/eval.json.

python -m scripts.evaluate --workdir=runs/dqn_catch --episodes=1000
# A meta-RL agent on another variant of its task (off-distribution), without
# editing code: -> DIR/eval_num_trials=150.json with its regret by trial
python -m scripts.evaluate --workdir=runs/meta_bandit --task_override=num_trials=150
python -m scripts.evaluate --workdir=runs/meta_bandit --task_override=env=bandit_hard
"""

import types

from absl import app
from absl import flags

from scripts import _cli


def define_flags(flag_values: flags.FlagValues = flags.FLAGS):
  """This script's flags, defined on `flag_values` (tests pass a fresh one)."""
  holders = types.SimpleNamespace(
      workdir=flags.DEFINE_string(
          "workdir",
          None,
          "a directory written by scripts.train",
          flag_values=flag_values,
      ),
      episodes=flags.DEFINE_integer(
          "episodes",
          100,
          "evaluation episodes per seed",
          flag_values=flag_values,
      ),
      seed=flags.DEFINE_integer(
          "seed", 0, "evaluation seed", flag_values=flag_values
      ),
      task_override=flags.DEFINE_multi_string(
          "task_override",
          [],
          "key=value: evaluate on another variant of the trained task "
          "(env=<task>, or a task parameter such as num_trials=150); "
          "repeatable",
          flag_values=flag_values,
      ),
  )
  flags.mark_flags_as_required(["workdir"], flag_values=flag_values)
  return holders


def run(flag: types.SimpleNamespace) -> None:
  from agents.runtime import evaluate_run  # pylint: disable=g-import-not-at-top

  evaluate_run.evaluate_workdir(
      flag.workdir.value,
      flag.episodes.value,
      flag.seed.value,
      task_overrides=flag.task_override.value,
  )


if __name__ == "__main__":
  _FLAGS = define_flags()
  app.run(
      lambda argv: _cli.run_main(lambda: run(_FLAGS)),
      flags_parser=_cli.parse_flags,
  )
