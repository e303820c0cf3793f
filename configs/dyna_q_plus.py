"""Dyna-Q+ (Sutton & Barto 8.3). Presets: any maze (configs/tabular.py).

  python -m scripts.train --config=configs/dyna_q_plus.py:blocking_maze \
      --workdir=r
"""

import ml_collections

from configs import tabular


def get_config(preset: str = "blocking_maze") -> ml_collections.ConfigDict:
  c = tabular.tabular_config("dyna_q_plus", preset)
  c.planning_steps = 10  # n simulated backups per real step (>= 1)
  c.kappa = 1e-3  # bonus kappa * sqrt(steps since the pair was tried), >= 0
  return c
