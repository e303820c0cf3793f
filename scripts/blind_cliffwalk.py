r"""Blind Cliffwalk (Schaul et al. 2016, Fig. 1/2): updates to learn Q vs n.

Uniform replay, proportional prioritized replay and the hindsight oracle on
the memory of all 2^n action sequences (agents/analysis/blind_cliffwalk.py),
n = 2, 3, ... max_n, over `seeds` seeds:

  DIR/blind_cliffwalk.png   log-log: updates needed vs n, median and
                            quartile band per method
  DIR/summary.json          every seed's number, medians, quartiles,
                            prioritized/uniform ratios, the paper's anchor

  python -m scripts.blind_cliffwalk --workdir=runs/blind_cliffwalk \
      --ns=2,4,6,8,10,12,14
  python -m scripts.blind_cliffwalk --workdir=/tmp/bc --max_n=6 --seeds=3
"""

from __future__ import annotations

import os

from absl import app
from absl import flags

from scripts import _cli

_WORKDIR = flags.DEFINE_string("workdir", None, "directory for the results")
_MIN_N = flags.DEFINE_integer("min_n", 2, "smallest number of states")
_MAX_N = flags.DEFINE_integer("max_n", 16, "largest number of states")
_NS = flags.DEFINE_list("ns", None, "the n to run (default: min_n .. max_n)")
_SEEDS = flags.DEFINE_integer("seeds", 10, "seeds per method and n")
_MAX_UPDATES = flags.DEFINE_integer(
    "max_updates",
    100_000_000,
    "cap on the updates of one run (a run that "
    "hits it is reported as not converged)",
)
_ALPHA = flags.DEFINE_float("alpha", 1.0, "prioritization exponent, in [0, 1]")
_EPSILON = flags.DEFINE_float(
    "epsilon", 1e-4, "priority offset: p = (|delta| + eps)^alpha"
)
flags.mark_flags_as_required(["workdir"])

ANCHOR = (
    "Schaul et al. 2016, Fig. 1 right and Fig. 2 left (log-log): "
    "uniform replay needs exponentially many updates in n; the oracle "
    "and TD-error prioritization need orders of magnitude fewer."
)


def _ns():
  from agents.runtime.errors import UserError  # pylint: disable=g-import-not-at-top

  if _NS.value is not None:
    try:
      ns = sorted({int(n) for n in _NS.value})
    except ValueError:
      raise UserError(f"--ns must be integers, got {_NS.value}") from None
    if not ns or ns[0] < 2 or ns[-1] > 24:
      raise UserError(f"--ns must lie in [2, 24], got {_NS.value}")
    return ns
  if not 2 <= _MIN_N.value <= _MAX_N.value <= 24:
    raise UserError(
        f"need 2 <= min_n <= max_n <= 24 (the memory holds "
        f"2^(n+1) items), got min_n={_MIN_N.value}, "
        f"max_n={_MAX_N.value}"
    )
  return list(range(_MIN_N.value, _MAX_N.value + 1))


def _validate_settings():
  from agents.runtime.errors import UserError  # pylint: disable=g-import-not-at-top

  if _SEEDS.value < 1 or _MAX_UPDATES.value < 1:
    raise UserError("seeds and max_updates must be >= 1")
  if not 0.0 <= _ALPHA.value <= 1.0:
    raise UserError(f"alpha must be in [0, 1], got {_ALPHA.value}")
  if _EPSILON.value <= 0:
    raise UserError(f"epsilon must be > 0, got {_EPSILON.value}")


def run() -> dict:
  _validate_settings()
  ns = _ns()
  from agents.analysis import blind_cliffwalk as bc  # pylint: disable=g-import-not-at-top
  from agents.runtime.benchmarks import format_table  # pylint: disable=g-import-not-at-top
  from agents.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top

  workdir = _WORKDIR.value
  workdir_lib.ensure_writable_dir(workdir)
  os.makedirs(workdir, exist_ok=True)
  results = bc.run_all(
      ns, _SEEDS.value, _MAX_UPDATES.value, _ALPHA.value, _EPSILON.value
  )
  summary = bc.summarize(
      results,
      alpha=_ALPHA.value,
      epsilon=_EPSILON.value,
      max_updates=_MAX_UPDATES.value,
  )
  summary["anchor"] = ANCHOR
  bc.plot(results, os.path.join(workdir, "blind_cliffwalk.png"))
  workdir_lib.write_json_atomic(os.path.join(workdir, "summary.json"), summary)
  print(format_table(bc.table_rows(summary)))
  print(
      f"goal (prioritized >= 10x fewer updates than uniform at n >= 10, "
      f"gap growing with n): {summary['goal']}"
  )
  print(f"wrote {workdir}/blind_cliffwalk.png and summary.json")
  return summary


def main(argv):
  del argv
  _cli.run_main(run)


if __name__ == "__main__":
  app.run(main, flags_parser=_cli.parse_flags)
