"""QR-DQN (Dabney et al. 2018, AAAI). Presets: catch (default), cartpole, gap.

Everything but the distributional keys is DQN's preset (configs/dqn.py), so the
two agents are compared on the same replay, optimizer and schedule.

  python -m scripts.train --config=configs/qr_dqn.py:cartpole --workdir=runs/x
"""

import ml_collections

from configs import dqn


def get_config(preset: str = "catch") -> ml_collections.ConfigDict:
  c = dqn.get_config(preset)
  c.agent = "qr_dqn"
  c.num_quantiles = 51  # N; tau_i = (i + 0.5) / N (the paper: 200 on Atari)
  c.huber_param = 1.0  # kappa of the quantile Huber loss
  if preset == "gap":
    # Returns here lie in [-1, 1], so |u| < kappa = 1 almost always and the
    # quantile Huber loss is quadratic: its fixed points are then close to
    # expectiles, smeared between the two peaks. kappa = 0 is the pure
    # quantile loss (the paper's eq. 8), whose fixed points are the quantiles.
    c.huber_param = 0.0
  return c
