"""Tabular Q-learning (Sutton & Barto 6.5). Presets: any maze
(configs/tabular.py).

  python -m scripts.train --config=configs/q_learning.py:dyna_maze --workdir=r
"""

import ml_collections

from configs import tabular


def get_config(preset: str = "dyna_maze") -> ml_collections.ConfigDict:
  return tabular.tabular_config("q_learning", preset)
