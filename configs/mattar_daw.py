"""Mattar & Daw 2018 prioritized replay (agents/mattar_daw.py).

Presets: open_field (default), linear_track.

  python -m scripts.train --config=configs/mattar_daw.py:open_field \
      --workdir=runs/mattar_daw

Values as the authors' reference code's setParams.m (github.com/
marcelomattar/PrioritizedReplay): gamma 0.9, alpha 1, softmax beta 5, 20
backups per replay phase (nPlan), baseline gain 1e-10, EVMthresh 0, T
learned with rate 0.9 (TLearnRate).
One environment and one step per learn call, so that replay happens exactly
before each trial and after each reward.
"""

import ml_collections

from configs import common


def get_config(preset: str = "open_field") -> ml_collections.ConfigDict:
  c = common.base_config("mattar_daw", "open_field")
  c.learning_rate = 1.0  # alpha, in (0, 1]
  c.gamma = 0.9  # in [0, 1)
  c.policy = "softmax"  # softmax | epsilon_greedy (acting, Gain and Need)
  c.inverse_temperature = 5.0  # softmax beta, > 0
  c.epsilon = 0.05  # epsilon_greedy's epsilon, in [0, 1]
  c.replay_mode = "prioritized"  # prioritized | random | none
  c.replay_steps = 20  # backups per replay phase, int >= 1
  c.n_step_extension = True  # also consider extending the last sequence
  c.min_gain = 1e-10  # gains below count as this (>= 0)
  c.evb_threshold = 0.0  # replay while best EVB > min(this, mean reward)
  c.need_model = "learned"  # learned | policy (T of Need's SR)
  c.transition_learning_rate = 0.9  # learned T's delta-rule rate, (0, 1]
  c.replay_log_size = 4_000  # backups kept in the replay log, int >= 1
  c.num_envs = 1
  c.rollout_length = 1
  c.total_env_steps = 20_000
  c.log_every_env_steps = 2_000
  c.eval_max_steps = 200
  c.env_kwargs = ml_collections.ConfigDict({"max_episode_steps": 1000})
  if preset == "open_field":
    pass
  elif preset == "linear_track":
    c.env = "linear_track"
  else:
    raise ValueError(f"unknown preset {preset!r}")
  return c
