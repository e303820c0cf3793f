"""Asynchronous one step sarsa (Mnih et al. 2016), agents/one_step_sarsa.py.
Presets: catch (default), cartpole.

  python -m scripts.train --config=configs/one_step_sarsa.py:catch --workdir=runs/x
"""

import ml_collections

from configs import asynchronous

PRESETS = asynchronous.PRESETS


def get_config(preset: str = "catch") -> ml_collections.ConfigDict:
  return asynchronous.value_based_config("one_step_sarsa", preset)
