"""Settings the four algorithms of Mnih et al. 2016 (asynchronous one-step Q,
one-step Sarsa, n-step Q, A3C) share: configs/one_step_q.py,
one_step_sarsa.py, n_step_q.py, a3c.py start from `base_config`.

Presets (each algorithm's): catch (default), cartpole. `num_envs` is K, the
number of actor-learners (one environment each); `loop` "anakin" runs them
vmapped with their per-actor updates applied in turn, "hogwild" as K threads
(set `num_actors` = K too).
"""

import ml_collections

from configs import common

PRESETS = ("catch", "cartpole")


def base_config(agent: str, preset: str) -> ml_collections.ConfigDict:
  c = common.base_config(agent, "catch")
  # Shared RMSProp (agents/lib/shared_rmsprop.py): alpha = 0.99, eps inside
  # the square root; eta_0 fixed or log-uniform per seed, annealed to 0.
  c.rmsprop_decay = 0.99
  c.optimizer_eps = 1e-5
  c.learning_rate = 1e-3
  c.learning_rate_sampling = "fixed"  # or "log_uniform" (the paper's)
  c.learning_rate_min = 1e-4
  c.learning_rate_max = 1e-2
  c.anneal_learning_rate = True
  c.per_actor_updates = True  # each actor's gradient applied alone, in turn
  c.gamma = 0.99
  c.hidden_sizes = (64, 64)
  c.rollout_length = 5  # t_max (n-step Q, A3C) / I_AsyncUpdate (one-step)
  c.num_envs = 8  # K actor-learners, one environment each
  c.num_actors = 8  # K threads when loop = "hogwild"
  if preset == "catch":
    c.total_env_steps = 60_000
    c.log_every_env_steps = 6_000
  elif preset == "cartpole":
    c.env = "cartpole"
    c.total_env_steps = 200_000
    c.log_every_env_steps = 20_000
  else:
    raise ValueError(
        f"unknown preset {preset!r} for {agent}; allowed: " + ", ".join(PRESETS)
    )
  return c


def value_based_config(agent: str, preset: str) -> ml_collections.ConfigDict:
  """One-step Q, one-step Sarsa, n-step Q (agents/lib/async_q.py)."""
  c = base_config(agent, preset)
  # The paper anneals epsilon over 4M frames of its 80M-frame runs (5%);
  # scaled here to 1/6 of each preset's (much shorter) run.
  c.epsilon_decay_env_steps = c.total_env_steps // 6
  c.eval_epsilon = 0.0  # greedy evaluation
  # I_target: the paper refreshes theta^- every 40,000 frames (of 80M);
  # scaled to a short run.
  c.target_update_env_steps = 1_000 if preset == "catch" else 2_000
  return c
