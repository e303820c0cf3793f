"""metrics.csv (one row per log interval), progress lines and the learning curve."""

from __future__ import annotations

import csv
import math
import os
import threading
from typing import Any

import numpy as np

# Columns every run writes first; agent losses follow in sorted order.
LEADING_COLUMNS = (
    "env_steps",
    "wall_seconds",
    "env_steps_per_second",
    "episode_return_mean",
)
# Columns that depend on the machine's speed (excluded from bitwise checks).
TIMING_COLUMNS = ("wall_seconds", "env_steps_per_second")


class MetricsLog:
  """Appends rows to DIR/metrics.csv, flushed and fsynced row by row."""

  def __init__(self, path: str):
    self.path = path

  def read(self) -> list[dict[str, str]]:
    if not os.path.exists(self.path):
      return []
    with open(self.path, newline="") as f:
      reader = csv.DictReader(f)
      rows = []
      for row in reader:
        # A row cut short by a kill mid-write has missing fields: drop it.
        if None in row.values() or None in row:
          break
        rows.append(row)
      return rows

  def truncate_to(self, env_steps: int) -> list[dict[str, str]]:
    """Keeps the rows up to `env_steps` (the checkpoint resumed from)."""
    rows = [r for r in self.read() if int(float(r["env_steps"])) <= env_steps]
    tmp = self.path + ".tmp"
    if rows:
      with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
      os.replace(tmp, self.path)
    elif os.path.exists(self.path):
      os.remove(self.path)
    return rows

  def append(self, row: dict[str, Any]) -> None:
    new_file = not os.path.exists(self.path)
    with open(self.path, "a", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=list(row.keys()))
      if new_file:
        writer.writeheader()
      writer.writerow({k: _fmt(v) for k, v in row.items()})
      f.flush()
      os.fsync(f.fileno())


def _fmt(v: Any) -> str:
  if isinstance(v, (int, np.integer)):
    return str(int(v))
  return repr(float(v))


def format_eta(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def progress_line(
    name: str,
    env_steps: int,
    total: int,
    steps_per_second: float,
    seconds_left: float,
    metrics: dict[str, float],
) -> str:
  extra = " ".join(f"{k} {v:.4g}" for k, v in metrics.items())
  rate = (
      f"{steps_per_second / 1e3:.1f}k"
      if steps_per_second >= 1e3
      else f"{steps_per_second:.0f}"
  )
  return (
      f"[{name}] {env_steps:,}/{total:,} steps "
      f"({100 * env_steps / max(total, 1):.0f}%) | {rate} steps/s | "
      f"{extra} | ETA {format_eta(seconds_left)}"
  )


def preload_plotting() -> None:
  """Imports matplotlib's figure machinery on a background thread, so that the
  import (about half a second) overlaps compilation instead of following
  training. `plot_learning_curve` works whether or not this was called."""

  def load():
    import matplotlib.backends.backend_agg  # pylint: disable=g-import-not-at-top,unused-import
    import matplotlib.figure  # pylint: disable=g-import-not-at-top,unused-import

  threading.Thread(target=load, daemon=True).start()


def plot_learning_curve(
    rows: list[dict[str, str]],
    path: str,
    title: str,
    seed_columns: list[str] | None = None,
    eval_return: float | None = None,
) -> None:
  """DIR/learning_curve.png: episode return against environment steps."""
  if not rows:
    return
  # A bare Figure on the Agg canvas: no pyplot import (half a second of start-up
  # on a short run) and no global figure state.
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  steps = np.array([float(r["env_steps"]) for r in rows])
  fig = Figure(figsize=(6, 4))
  FigureCanvasAgg(fig)
  ax = fig.subplots()
  for column in seed_columns or []:
    ax.plot(steps, [float(r[column]) for r in rows], alpha=0.35, lw=1)
  ax.plot(
      steps,
      [float(r["episode_return_mean"]) for r in rows],
      lw=2,
      color="k",
      label="mean over seeds" if seed_columns else "return",
  )
  if eval_return is not None:
    ax.plot(
        [steps[-1]],
        [eval_return],
        "r*",
        ms=12,
        label=f"greedy evaluation ({eval_return:.3g})",
    )
  ax.set_xlabel("environment steps (per seed)")
  ax.set_ylabel("training episode return")
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(loc="lower right")
  fig.tight_layout()
  fig.savefig(path, dpi=120)
