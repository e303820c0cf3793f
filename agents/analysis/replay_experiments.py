"""The experiments of `scripts/reproduce_replay.py`, by name.

Each `Experiment` runs into a work directory and returns a dict with at least
`rows` (one per number: quantity, measured, anchor, reproduced True / False /
None) and `figures` (PNG paths); anything else it returns (per-seed numbers,
settings) goes into summary.json as is. Adding an experiment is one entry in
`EXPERIMENTS`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

from agents.analysis import mattar_daw
from agents.analysis import movie_imagination
from agents.analysis import planning
from agents.runtime import workdir as workdir_lib
from agents.runtime.errors import UserError

# run(workdir, quick, seed) -> {"rows": [...], "figures": [...], ...}
RunFn = Callable[[str, bool, int], dict]


@dataclasses.dataclass(frozen=True)
class Experiment:
  name: str
  description: str
  run: RunFn


def _scale(quick: bool) -> planning.Scale:
  return planning.QUICK if quick else planning.Scale()


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment(
            "dyna_maze",
            "Sutton & Barto Fig. 8.2: steps per episode, n = 0, 5, 50",
            lambda w, q, s: planning.dyna_maze(w, _scale(q), s),
        ),
        Experiment(
            "blocking_maze",
            "Sutton & Barto Fig. 8.4: cumulative reward, Dyna-Q vs Dyna-Q+",
            lambda w, q, s: planning.changing_maze(
                "blocking_maze", w, _scale(q), s
            ),
        ),
        Experiment(
            "shortcut_maze",
            "Sutton & Barto Fig. 8.5: cumulative reward, Dyna-Q vs Dyna-Q+",
            lambda w, q, s: planning.changing_maze(
                "shortcut_maze", w, _scale(q), s
            ),
        ),
        Experiment(
            "sweeping",
            "Sutton & Barto Ex. 8.4: backups until optimal, prioritized "
            "sweeping vs Dyna-Q",
            lambda w, q, s: planning.sweeping(w, _scale(q), s),
        ),
        Experiment(
            "mattar_daw",
            "Mattar & Daw 2018: steps to goal by replay kind, forward vs "
            "reverse replay before/after a run, reward increase",
            mattar_daw.experiment,
        ),
        Experiment(
            "movie_vs_imagination",
            "Liu et al. 2019: movie vs imagination replay, value "
            "propagation and TDLM sequenceness",
            movie_imagination.experiment,
        ),
    ]
}


def select(names: list[str] | None) -> list[str]:
  """The experiments to run, in registry order; UserError on unknown names."""
  if not names:
    return list(EXPERIMENTS)
  unknown = [n for n in names if n not in EXPERIMENTS]
  if unknown:
    raise UserError(
        f"unknown experiment(s) {', '.join(map(repr, unknown))}; "
        f"known: {', '.join(EXPERIMENTS)}"
    )
  return [n for n in EXPERIMENTS if n in names]


def run_all(
    names: list[str],
    workdir: str,
    quick: bool = False,
    seed: int = 0,
    progress: Callable[[str], None] = print,
) -> dict:
  """Runs the experiments, writing workdir/summary.json after each one."""
  workdir_lib.ensure_writable_dir(workdir)
  os.makedirs(workdir, exist_ok=True)
  summary = {"seed": seed, "quick": quick, "experiments": {}}
  start = time.time()
  for name in names:
    progress(
        f"[reproduce_replay] {name}: " f"{EXPERIMENTS[name].description} ..."
    )
    began = time.time()
    result = EXPERIMENTS[name].run(workdir, quick, seed)
    result["wall_seconds"] = time.time() - began
    summary["experiments"][name] = result
    summary["wall_seconds"] = time.time() - start
    workdir_lib.write_json_atomic(
        os.path.join(workdir, "summary.json"), summary
    )
    progress(
        f"[reproduce_replay] {name} done in " f"{result['wall_seconds']:.0f}s"
    )
  return summary


def table(summary: dict) -> str:
  """The measured numbers beside their anchors, one line each."""
  mark = {True: "yes", False: "NO", None: "-"}
  lines = []
  for name, result in summary["experiments"].items():
    for row in result["rows"]:
      lines.append(
          f"{name:14s} | {row['quantity']}\n"
          f"{'':14s} |   measured: {row['measured']}\n"
          f"{'':14s} |   anchor:   {row['anchor']}   reproduced: "
          f"{mark[row['reproduced']]}"
      )
  return "\n".join(lines)
