"""DDPG (Lillicrap et al. 2016), agents/ddpg.py: NAF's comparison. Presets:
pendulum (default), mountain_car_continuous, cartpole_swingup, reacher_easy.

  python -m scripts.train --config=configs/ddpg.py:pendulum --workdir=runs/x

The same task presets, replay, budget and exploration as NAF
(configs/naf.py), so the two run side by side; what is DDPG's own: the
actor's learning rate (the paper: 1e-4 actor, 1e-3 critic).
"""

import ml_collections

from configs import naf

PRESETS = tuple(naf.TASKS)  # the task presets


def get_config(preset: str = "pendulum") -> ml_collections.ConfigDict:
  c = naf.get_config(preset)
  c.agent = "ddpg"
  c.learning_rate = 1e-3  # the critic's
  c.actor_learning_rate = 1e-4
  return c
