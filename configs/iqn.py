"""IQN (Dabney et al. 2018, ICML). Presets: catch (default), cartpole, gap.

Everything but the distributional keys is DQN's preset (configs/dqn.py).

  python -m scripts.train --config=configs/iqn.py:cartpole --workdir=runs/x
"""

import ml_collections

from configs import dqn


def get_config(preset: str = "catch") -> ml_collections.ConfigDict:
  c = dqn.get_config(preset)
  c.agent = "iqn"
  c.num_tau_samples = 64  # N = N', taus per item in the loss (the paper: 64)
  c.num_tau_act_samples = 32  # K, taus for the greedy policy (the paper: 32)
  c.num_cosine_features = 64  # n in phi(tau) (the paper: 64)
  c.huber_param = 1.0  # kappa of the quantile Huber loss
  if preset == "gap":
    # Returns here lie in [-1, 1], so |u| < kappa = 1 almost always and the
    # quantile Huber loss is quadratic: its fixed points are then close to
    # expectiles, smeared between the two peaks. kappa = 0 is the pure
    # quantile loss (the paper's eq. 8), whose fixed points are the quantiles.
    c.huber_param = 0.0
  return c
