r"""Reproduce Table 2 of Mnih et al. 2016 (asynchronous actor-learners) at
this machine's scale: data efficiency and speed-up against K.

  python -m scripts.reproduce_a3c --workdir=runs/a3c_table
  python -m scripts.reproduce_a3c --workdir=/tmp/t --quick     # smoke test
  python -m scripts.reproduce_a3c --workdir=DIR --algorithms=a3c,n_step_q \
      --envs=catch --actors=1,2 --seeds=2

Every algorithm (one-step Q, one-step Sarsa, n-step Q, A3C) with K = 1, 2,
4, 8 actor-learners on CartPole and Catch: env steps to a greedy-return
threshold in the synchronous compiled loop (seeds vmapped), and wall seconds
to it in the hogwild loop (K threads; --wall_clock_envs). Writes
DIR/summary.json, DIR/curves_<env>.png, DIR/speedup.png and prints the
table. What each number is: agents/analysis/a3c_table.py.
"""

import types

from absl import app
from absl import flags

from scripts import _cli


def define_flags(fv: flags.FlagValues = flags.FLAGS):
  """This script's flags, defined on `fv` (tests pass a fresh one)."""
  holders = types.SimpleNamespace(
      workdir=flags.DEFINE_string(
          "workdir",
          None,
          "directory for summary.json and the figures",
          flag_values=fv,
      ),
      algorithms=flags.DEFINE_list(
          "algorithms",
          "one_step_q,one_step_sarsa,n_step_q,a3c",
          "algorithms to run",
          flag_values=fv,
      ),
      envs=flags.DEFINE_list(
          "envs",
          "catch,cartpole",
          "tasks (data-efficiency part)",
          flag_values=fv,
      ),
      wall_clock_envs=flags.DEFINE_list(
          "wall_clock_envs",
          "catch",
          "tasks of the hogwild wall-clock part " "(empty: none)",
          flag_values=fv,
      ),
      actors=flags.DEFINE_list(
          "actors", "1,2,4,8", "numbers of actor-learners K", flag_values=fv
      ),
      seeds=flags.DEFINE_integer("seeds", 4, "training seeds", flag_values=fv),
      quick=flags.DEFINE_bool(
          "quick",
          False,
          "Catch only, K = 1, 2, 2 seeds, short budget " "(smoke test)",
          flag_values=fv,
      ),
      flag_values=fv,
  )
  flags.mark_flags_as_required(["workdir"], flag_values=fv)
  return holders


def check_inputs(flag: types.SimpleNamespace) -> dict:
  """run_reproduction's arguments from the flags; UserError for a bad one.
  Writes nothing."""
  from agents.analysis import a3c_table  # pylint: disable=g-import-not-at-top
  from agents.runtime.errors import UserError  # pylint: disable=g-import-not-at-top

  names = dict(
      algorithms=a3c_table.ALGORITHMS,
      envs=a3c_table.ENVS,
      wall_clock_envs=a3c_table.ENVS,
  )
  args = {}
  for name, allowed in names.items():
    values = [v for v in getattr(flag, name).value if v]
    bad = [v for v in values if v not in allowed]
    if bad or (not values and name != "wall_clock_envs"):
      raise UserError(
          f"--{name}={','.join(values)} is not allowed: choose "
          "from " + ", ".join(allowed)
      )
    args[name] = tuple(values)
  try:
    actors = tuple(int(k) for k in flag.actors.value)
  except ValueError:
    actors = ()
  if not actors or any(not 1 <= k <= 64 for k in actors) or 1 not in actors:
    raise UserError(
        f"--actors={','.join(flag.actors.value)} is not allowed: "
        "integers in [1, 64], including 1 (the speed-ups' base)"
    )
  if not 1 <= flag.seeds.value <= 64:
    raise UserError(
        f"--seeds={flag.seeds.value} is not allowed: it must be "
        "an integer in [1, 64]"
    )
  args.update(actors=actors, seeds=flag.seeds.value)
  if flag.quick.value:
    args.update(
        envs=("catch",),
        wall_clock_envs=("catch",),
        actors=(1, 2),
        seeds=2,
        budgets=dict(catch=10_000),
        eval_episodes=10,
    )
  return args


def run(flag: types.SimpleNamespace, *, check_only: bool = False):
  """The reproduction; `check_only` stops after `check_inputs` (tests)."""
  from agents.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top

  args = check_inputs(flag)
  workdir_lib.ensure_writable_dir(flag.workdir.value)
  if check_only:
    return
  from agents.analysis import a3c_table  # pylint: disable=g-import-not-at-top

  with a3c_table.shared_compilation_cache():
    table = a3c_table.run_reproduction(flag.workdir.value, **args)
  print(table)
  print(
      f"files in {flag.workdir.value}: summary.json, curves_<env>.png, "
      "speedup.png"
  )


if __name__ == "__main__":
  _FLAGS = define_flags()
  app.run(
      lambda argv: _cli.run_main(lambda: run(_FLAGS)),
      flags_parser=_cli.parse_flags,
  )
