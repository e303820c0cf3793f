"""IQN (Dabney et al. 2018, ICML). Presets: catch (default), cartpole, gap.

Everything but the distributional keys is DQN's preset (configs/dqn.py),
except the CartPole preset's length (600k env steps, see below).

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
  if preset == "cartpole":
    # On CPU IQN's cost is its N x batch rows through the 128-wide layers
    # (compute-bound). The paper sweeps N, N' over {1, 8, 32, 64} (Fig. 2);
    # 8, its smallest setting above 1, is several times faster than 64.
    c.num_tau_samples = 8
    c.num_tau_act_samples = 8
    # Longer than DQN's 400k: at 400k some seeds' greedy policies had
    # drifted off (python -m scripts.train --config=configs/iqn.py:cartpole
    # --config.num_seeds=4 --config.seed=10 --workdir=DIR).
    c.total_env_steps = 600_000
  if preset == "gap":
    # Returns here lie in [-1, 1], so |u| < kappa = 1 almost always and the
    # quantile Huber loss is quadratic: its fixed points are then close to
    # expectiles, smeared between the two peaks. kappa = 0 is the pure
    # quantile loss (the paper's eq. 8), whose fixed points are the quantiles.
    c.huber_param = 0.0
  return c
