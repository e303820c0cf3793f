"""PNG figures of a reproduction: a writer that saves into the workdir, and
every training seed's curve drawn thin under their mean drawn thick."""

from __future__ import annotations

import os

import numpy as np


class FigureWriter:
  """Saves matplotlib figures as PNGs in the workdir; `written` lists them."""

  def __init__(self, workdir: str):
    import matplotlib  # pylint: disable=g-import-not-at-top

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

    self.plt = plt
    self.workdir = workdir
    self.written: list[str] = []

  def subplots(self, *args, **kwargs):
    return self.plt.subplots(*args, **kwargs)

  def save(self, fig, name: str) -> None:
    fig.tight_layout()
    fig.savefig(os.path.join(self.workdir, name), dpi=110)
    self.plt.close(fig)
    self.written.append(name)


def plot_seeds(ax, curves, x=None, color="k", label=None, style="-"):
  """Each seed's curve thin, their mean thick (labelled with the count)."""
  curves = [np.asarray(c, np.float64) for c in curves]
  if x is None:
    x = np.arange(1, curves[0].size + 1)
  for c in curves:
    ax.plot(x, c, style, color=color, lw=0.7, alpha=0.45)
  ax.plot(
      x,
      np.mean(curves, axis=0),
      style,
      color=color,
      lw=2.2,
      label=f"{label} ({len(curves)} seeds, mean)" if label else None,
  )
