"""Dyna-Q (Sutton & Barto 8.2). Presets: any maze (configs/tabular.py).

python -m scripts.train --config=configs/dyna_q.py:dyna_maze --workdir=r
"""

import ml_collections

from configs import tabular


def get_config(preset: str = "dyna_maze") -> ml_collections.ConfigDict:
  c = tabular.tabular_config("dyna_q", preset)
  c.planning_steps = 5  # n simulated backups per real step (>= 1)
  return c
