r"""Reproduce Gu et al. 2016 (NAF) against DDPG at this machine's scale.

  python -m scripts.reproduce_naf --workdir=runs/naf            # pendulum
  python -m scripts.reproduce_naf --workdir=DIR \
      --tasks=pendulum,mountain_car_continuous,cartpole_swingup,reacher_easy
  python -m scripts.reproduce_naf --workdir=/tmp/t --quick      # smoke test
  python -m scripts.reproduce_naf --workdir=DIR \
      --variants=naf,naf+lg,naf+lg-r0.25,naf+lg-r0.75,naf+neural
      # imagination rollouts and the imagination-ratio ablation
  python -m scripts.reproduce_naf --workdir=DIR --eval_every_env_steps=1000 \
      --variants=naf,naf+ens,naf+ens-r0.25,naf+ens-nostop --first_seed=4
      # the ensemble's ratio and stop ablated, on seeds 4-7

Trains NAF, DDPG and NAF with imagination rollouts (naf+ens: configs/naf.py's
IMAGINATION) (each task's preset of configs/naf.py / configs/ddpg.py)
over --seeds seeds (vmapped) on every task of --tasks whose environment can
be built here (the Control Suite tasks need the optional `playground`
package; without it they are skipped with a note). Writes
DIR/summary.json (every seed's numbers, mean +- sd, env steps to the
threshold, final greedy return over --eval_episodes episodes),
DIR/curves_<task>.png and prints the table. What each number is:
agents/analysis/naf2016.py.
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
      tasks=flags.DEFINE_list(
          "tasks", "pendulum", "tasks (configs/naf.py presets)", flag_values=fv
      ),
      variants=flags.DEFINE_list(
          "variants",
          "naf,ddpg,naf+ens",
          "variants to run (agents/analysis/naf2016.py ALL_VARIANTS): naf, "
          "ddpg, naf+lg, naf+lg-r0.25, naf+lg-r0.75, naf+neural, naf+ens, "
          "naf+ens-r0.25, naf+ens-nostop",
          flag_values=fv,
      ),
      seeds=flags.DEFINE_integer("seeds", 4, "training seeds", flag_values=fv),
      eval_episodes=flags.DEFINE_integer(
          "eval_episodes",
          100,
          "greedy episodes per evaluation",
          flag_values=fv,
      ),
      total_env_steps=flags.DEFINE_integer(
          "total_env_steps",
          None,
          "env steps per seed (default: each preset's)",
          flag_values=fv,
      ),
      eval_every_env_steps=flags.DEFINE_integer(
          "eval_every_env_steps",
          None,
          "env steps between evaluations (default: each preset's "
          "log_every_env_steps)",
          flag_values=fv,
      ),
      first_seed=flags.DEFINE_integer(
          "first_seed", 0, "the first training seed", flag_values=fv
      ),
      quick=flags.DEFINE_bool(
          "quick",
          False,
          "pendulum, 2 seeds, 4,000 steps, 10 episodes (smoke test)",
          flag_values=fv,
      ),
      flag_values=fv,
  )
  flags.mark_flags_as_required(["workdir"], flag_values=fv)
  return holders


def check_inputs(flag: types.SimpleNamespace) -> dict:
  """run_reproduction's arguments from the flags; UserError for a bad one.
  Writes nothing."""
  from agents.analysis import naf2016  # pylint: disable=g-import-not-at-top
  from agents.runtime.errors import UserError  # pylint: disable=g-import-not-at-top

  tasks = tuple(t for t in flag.tasks.value if t)
  bad = [t for t in tasks if t not in naf2016.TASKS]
  if bad or not tasks:
    raise UserError(
        f"--tasks={','.join(tasks)} is not allowed: choose from "
        + ", ".join(naf2016.TASKS)
    )
  known = {v.name: v for v in naf2016.ALL_VARIANTS}
  names = [n.strip() for n in flag.variants.value if n.strip()]
  unknown = [n for n in names if n not in known]
  if unknown or not names:
    raise UserError(
        f"--variants={','.join(names)} is not allowed: choose from "
        + ", ".join(known)
    )
  for name, low in (("seeds", 1), ("eval_episodes", 1)):
    value = getattr(flag, name).value
    if not low <= value <= 10_000:
      raise UserError(
          f"--{name}={value} is not allowed: an integer in [{low}, 10000]"
      )
  steps = flag.total_env_steps.value
  if steps is not None and steps < 1:
    raise UserError(f"--total_env_steps={steps} is not allowed: >= 1")
  every = flag.eval_every_env_steps.value
  if every is not None and every < 1:
    raise UserError(f"--eval_every_env_steps={every} is not allowed: >= 1")
  if not 0 <= flag.first_seed.value <= 2**31 - 1:
    raise UserError(
        f"--first_seed={flag.first_seed.value} is not allowed: an integer "
        "in [0, 2^31 - 1]"
    )
  args = dict(
      tasks=tasks,
      seeds=flag.seeds.value,
      eval_episodes=flag.eval_episodes.value,
      total_env_steps=steps,
      eval_every_env_steps=every,
      first_seed=flag.first_seed.value,
      variants=tuple(known[n] for n in names),
  )
  if flag.quick.value:
    args.update(
        tasks=("pendulum",), seeds=2, eval_episodes=10, total_env_steps=4_000
    )
  return args


def run(flag: types.SimpleNamespace, *, check_only: bool = False):
  """The reproduction; `check_only` stops after `check_inputs` (tests)."""
  from agents.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top

  args = check_inputs(flag)
  workdir_lib.ensure_writable_dir(flag.workdir.value)
  if check_only:
    return
  from agents.analysis import naf2016  # pylint: disable=g-import-not-at-top

  table = naf2016.run_reproduction(flag.workdir.value, **args)
  print(table)
  print(f"files in {flag.workdir.value}: summary.json, curves_<task>.png")


if __name__ == "__main__":
  _FLAGS = define_flags()
  app.run(
      lambda argv: _cli.run_main(lambda: run(_FLAGS)),
      flags_parser=_cli.parse_flags,
  )
