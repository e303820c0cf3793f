r"""Train an agent on a task; results go to --workdir.

  python -m scripts.train --config=configs/dqn.py:catch --workdir=runs/dqn_catch
  python -m scripts.train --config=configs/a2c.py:cartpole --workdir=runs/a2c \
      --config.seed=3 --config.num_seeds=4
  python -m scripts.train --config=configs/dqn.py:catch --workdir=runs/b \
      --config.env=bsuite:catch/0 --config.num_envs=1      # host loop

Running it again on the same --workdir resumes from the last checkpoint.
"""

import types

from absl import app
from absl import flags
from ml_collections import config_flags

from scripts import _cli


def define_flags(
    flag_values: flags.FlagValues = flags.FLAGS, argv: list[str] | None = None
):
  """This script's flags, defined on `flag_values`; the --config.<key>
  overrides are read from `argv` (default: sys.argv). Tests pass both."""
  holders = types.SimpleNamespace(
      config=config_flags.DEFINE_config_file(
          "config",
          None,
          "configs/<agent>.py:<preset>",
          flag_values=flag_values,
          sys_argv=argv,
      ),
      workdir=flags.DEFINE_string(
          "workdir",
          None,
          "directory for this run's results",
          flag_values=flag_values,
      ),
      overwrite=flags.DEFINE_bool(
          "overwrite",
          False,
          "move a run with a different config (or with "
          "no readable checkpoint) in --workdir aside, to "
          "DIR/overwritten-<time>/",
          flag_values=flag_values,
      ),
  )
  flags.mark_flags_as_required(["config", "workdir"], flag_values=flag_values)
  return holders


def run(flag: types.SimpleNamespace, *, check_only: bool = False) -> None:
  """Trains; `check_only` stops after everything `train` checks before it
  writes anything (`train.check_run`, the same call; tests/test_fuzz_cli.py)."""
  from agents.runtime import train  # pylint: disable=g-import-not-at-top

  config, workdir = flag.config.value, flag.workdir.value
  if check_only:
    train.check_run(config, workdir, overwrite=flag.overwrite.value)
    return
  _cli.maybe_initialize_distributed()
  train.train(config, workdir, overwrite=flag.overwrite.value)


if __name__ == "__main__":
  _FLAGS = define_flags()
  app.run(
      lambda argv: _cli.run_main(lambda: run(_FLAGS)),
      flags_parser=_cli.parse_flags,
  )
