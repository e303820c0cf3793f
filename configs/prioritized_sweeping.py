"""Prioritized sweeping (Moore & Atkeson 1993; Sutton & Barto 8.4).
Presets: any maze (configs/tabular.py).

  python -m scripts.train --config=configs/prioritized_sweeping.py:dyna_maze \
      --workdir=r
"""

import ml_collections

from configs import tabular


def get_config(preset: str = "dyna_maze") -> ml_collections.ConfigDict:
  c = tabular.tabular_config("prioritized_sweeping", preset)
  c.planning_steps = 5  # at most n queue pops (backups) per real step, >= 1
  c.priority_threshold = 1e-4  # theta: pairs enter the queue when P > theta
  return c
