r"""Train an agent on a task; results go to --workdir.

  python -m scripts.train --config=configs/dqn.py:catch --workdir=runs/dqn_catch
  python -m scripts.train --config=configs/a2c.py:cartpole --workdir=runs/a2c \
      --config.seed=3 --config.num_seeds=4
  python -m scripts.train --config=configs/dqn.py:catch --workdir=runs/b \
      --config.env=bsuite:catch/0 --config.num_envs=1      # host loop

Running it again on the same --workdir resumes from the last checkpoint.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from scripts import _cli

_CONFIG = config_flags.DEFINE_config_file("config", None, "configs/<agent>.py:<preset>")
_WORKDIR = flags.DEFINE_string("workdir", None, "directory for this run's results")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "move a run with a different config (or with no "
    "readable checkpoint) in --workdir aside, to DIR/overwritten-<time>/")
flags.mark_flags_as_required(["config", "workdir"])


def run(config, workdir: str, overwrite: bool) -> None:
  _cli.maybe_initialize_distributed()
  from agents.runtime import train  # pylint: disable=g-import-not-at-top
  train.train(config, workdir, overwrite=overwrite)


def main(argv):
  del argv
  _cli.run_main(lambda: run(_CONFIG.value, _WORKDIR.value, _OVERWRITE.value))


if __name__ == "__main__":
  app.run(main, flags_parser=_cli.parse_flags)
