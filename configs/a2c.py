"""A2C (synchronous A3C, Mnih et al. 2016). Presets: cartpole (default), catch.

python -m scripts.train --config=configs/a2c.py:cartpole --workdir=runs/x
"""

import ml_collections

from configs import common


def get_config(preset: str = "cartpole") -> ml_collections.ConfigDict:
  c = common.base_config("a2c", "cartpole")
  c.optimizer = "adam"
  c.learning_rate = 3e-3
  c.anneal_learning_rate = True  # linearly to 0 over training
  c.rmsprop_decay = 0.99
  c.optimizer_eps = 1e-5
  c.max_grad_norm = 0.5
  c.gamma = 0.99
  c.gae_lambda = 1.0  # 1: A3C's n-step returns; < 1: GAE(lambda) targets
  c.hidden_sizes = (64, 64)
  c.value_coef = 0.5
  c.entropy_coef = 0.01
  c.num_envs = 64
  c.rollout_length = 8
  c.total_env_steps = 1_000_000
  c.log_every_env_steps = 102_400
  if preset == "cartpole":
    pass
  elif preset == "catch":
    c.env = "catch"
    c.total_env_steps = 200_000
    c.log_every_env_steps = 20_480
  else:
    raise ValueError(
        f"unknown preset {preset!r} for a2c; allowed: cartpole, catch"
    )
  return c
