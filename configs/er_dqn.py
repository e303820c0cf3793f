"""ER-DQN (Rowland et al. 2019, ICML). Presets: catch (default), cartpole, gap.

Everything but the distributional keys is DQN's preset (configs/dqn.py).

  python -m scripts.train --config=configs/er_dqn.py:cartpole --workdir=runs/x
"""

import ml_collections

from configs import dqn


def get_config(preset: str = "catch") -> ml_collections.ConfigDict:
  c = dqn.get_config(preset)
  c.agent = "er_dqn"
  c.num_expectiles = 31  # N, odd: tau_i = (i + 0.5) / N, the middle one 1/2
  c.num_imputation_steps = 10  # Levenberg-Marquardt steps per target
  return c
