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
  if preset == "cartpole":
    # The imputation (an N x N damped solve per transition per LM step)
    # dominates on CPU, and 11 expectiles balance CartPole as 31 do, several
    # times faster (python -m scripts.train --config=configs/er_dqn.py:cartpole
    # --config.num_seeds=4 --workdir=DIR).
    c.num_expectiles = 11
  return c
