"""DQN (Mnih et al. 2015). Presets: catch (default), cartpole, gap.

  python -m scripts.train --config=configs/dqn.py:cartpole --workdir=runs/x
"""

import ml_collections

from configs import common


def get_config(preset: str = "catch") -> ml_collections.ConfigDict:
  c = common.base_config("dqn", "catch")
  c.optimizer = "adam"
  c.learning_rate = 5e-4
  c.max_grad_norm = 10.0
  c.gamma = 0.99
  c.hidden_sizes = (64, 64)
  c.double_q = False
  c.huber_delta = 1.0
  c.replay_capacity = 20_000
  c.min_replay_size = 500
  c.batch_size = 64
  c.num_updates = 1  # gradient steps per learn call
  c.target_update_period = 100  # in gradient steps
  c.epsilon_start = 1.0
  c.epsilon_end = 0.05
  c.epsilon_decay_env_steps = 10_000
  c.eval_epsilon = 0.0
  c.num_envs = 8
  c.rollout_length = 4
  c.total_env_steps = 60_000
  c.log_every_env_steps = 5_120
  if preset == "catch":
    pass
  elif preset == "cartpole":
    c.env = "cartpole"
    c.total_env_steps = 200_000
    c.epsilon_decay_env_steps = 40_000
    c.replay_capacity = 50_000
    c.target_update_period = 250
    c.log_every_env_steps = 20_000
  elif preset == "gap":  # the two-peaked jump-the-gap task (SCIENCE.md 1)
    c.env = "jump_the_gap"
    c.gamma = 0.9
    c.total_env_steps = 40_000
    c.epsilon_decay_env_steps = 10_000
  else:
    raise ValueError(f"unknown preset {preset!r} for dqn; allowed: catch, cartpole, gap")
  return c
