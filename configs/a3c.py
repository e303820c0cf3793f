"""A3C (Mnih et al. 2016), agents/a3c.py. Presets: catch (default), cartpole.

python -m scripts.train --config=configs/a3c.py:catch --workdir=runs/x
"""

import ml_collections

from configs import asynchronous

PRESETS = asynchronous.PRESETS


def get_config(preset: str = "catch") -> ml_collections.ConfigDict:
  c = asynchronous.base_config("a3c", preset)
  c.entropy_coef = 0.01  # beta
  c.value_coef = 0.5
  return c
