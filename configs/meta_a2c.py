"""Meta-RL A2C (Wang et al. 2018): an LSTM actor-critic trained across tasks.

Presets: bandit_independent (default), bandit_dependent_uniform, bandit_easy,
bandit_medium, bandit_hard, restless_bandit, harlow, two_step, reversal
(Bromberg-Martin et al. 2010's task, Wang 2018 Fig. 4:
environments/reversal_task.py).

  python -m scripts.train --config=configs/meta_a2c.py:bandit_independent \
      --workdir=runs/meta_bandit
  python -m scripts.train --config=configs/meta_a2c.py:harlow --workdir=runs/h

Chunks are whole episodes: `rollout_length` = episode length + 1, where an
episode of L decisions takes L + 1 env steps in the loop (the step after LAST
is the next episode's FIRST; see agents/meta_a2c.py). So each learn call
back-propagates through exactly one episode per environment, and the chunk's
phase never drifts. Many parallel environments (`num_envs`) give the CPU
throughput; each learn call averages the gradient over all of them.

Paper settings (Wang et al. 2018 Methods): 48 LSTM units, RMSProp lr 7e-4,
gamma 0.9, value cost 0.05, entropy cost 0.05; reimplementations use gamma
0.8 and an annealed entropy cost. Defaults here keep the paper's network and
value cost, anneal the entropy cost 0.05 -> 0, and are tuned for wall time on
a 2-core CPU: RMSProp lr 2e-3 with 128 environments per update, gamma 0.9.

bandit_independent is tuned further: 32 environments (CPU throughput hardly
depends on num_envs, so fewer environments give more updates in the same
wall time), the learning rate annealed to 0 (without it the regret of
successive checkpoints keeps swinging), lr 5e-3 and gamma 0.95 (with gamma
0.9 even the Bayes-optimal policy of the discounted objective under-explores
and locks onto the worse arm; the exact optimum of the discounted objective
scores 1.98 at gamma 0.9, 1.85 at 0.95: bandit_baselines.
bayes_optimal_regret_curve(100, discount)), and 50M env steps per seed: the
regret kept falling with training (2.36 at 10M, 2.18 at 25M). Its regret at
trial 100, 4 seeds vmapped, 5000 held-out episodes each: 1.944, 2.017,
1.947, 1.965 (+- 0.055 each; mean 1.968 +- 0.034, 1.126x the exact
Bayes-optimal 1.748: the issue-17 bar of 2.01 is met). Measured by:
  python -m scripts.reproduce_wang2018 --workdir=DIR \
      --tasks=bandit_independent --eval_episodes=5000
Screened at 10M env steps against the same preset at 10M (4 seeds, 2000
held-out episodes; regret at trial 100, seeds 0-3): preset 2.23, 2.33,
2.50, 2.38 (2.36 +- 0.11); entropy_start 0.1: 2.24, 2.31, 2.36, 2.43
(2.34); 16 environments: 2.21, 2.07, 2.84, 2.45 (2.39); entropy annealed
over the first 5M steps only: 3.18, 2.43, 2.96, 2.23 (2.70); 128
environments, lr 1e-2: 2.70, 2.86, 2.51, 2.29 (2.59); gamma 0.99: 3.63,
3.13, 17.2, 6.00; Adam lr 1e-3 learned slower (stopped at 5M). At 8-10M
steps gamma 1 with GAE 0.95, value cost 0.5 and forget_bias 1 were worse.
The ablation row (no reward input) trains 5M env steps. The 50M run logged
in segments of 646,400 steps; the segment length leaves the trained weights
bitwise unchanged (same parameter sha256 after 2.6M steps with segments of
646,400 and 1,292,800).
The other presets keep the default network and optimiser (not re-tuned);
their lengths are set so that `python -m scripts.reproduce_wang2018` (4
seeds of every preset, vmapped) fits its 45-minute budget on 2 CPU cores:
the printed table gives each task's env steps/s and seconds, and
summary.json `total_wall_seconds`.
"""

import ml_collections

from configs import common

PRESETS = (
    "bandit_independent",
    "bandit_dependent_uniform",
    "bandit_easy",
    "bandit_medium",
    "bandit_hard",
    "restless_bandit",
    "harlow",
    "two_step",
    "reversal",
)


def episode_env_steps(env: str, env_kwargs) -> int:
  """Env steps one episode occupies in the loop: decisions + the LAST step."""
  if env.startswith("bandit") or env == "restless_bandit":
    decisions = env_kwargs.get("num_trials", 100)
  elif env.startswith("harlow"):
    decisions = 2 * env_kwargs.get("num_trials", 6)
  elif env == "two_step":
    decisions = 2 * env_kwargs.get("num_trials", 100)
  elif env == "reversal":
    decisions = 2 * env_kwargs.get("num_trials", 50)
  else:
    raise ValueError(f"no episode length known for {env!r}")
  return decisions + 1


def get_config(preset: str = "bandit_independent") -> ml_collections.ConfigDict:
  if preset not in PRESETS:
    raise ValueError(
        f"unknown preset {preset!r} for meta_a2c; allowed: "
        f"{', '.join(PRESETS)}"
    )
  c = common.base_config("meta_a2c", preset)
  # Network and inputs.
  c.lstm_size = 48
  c.use_reward_input = True  # False: the reward-input ablation
  c.forget_bias = 0.0  # added to the forget gate's initial bias (flax: 0)
  # Optimiser (shared RMSProp of A3C).
  c.optimizer = "rmsprop"
  c.learning_rate = 2e-3
  c.rmsprop_decay = 0.99
  c.optimizer_eps = 1e-5
  c.max_grad_norm = 1.0
  c.anneal_learning_rate = False  # True: linearly to 0 over training
  # A2C loss.
  c.gamma = 0.9
  c.gae_lambda = 1.0  # 1: n-step returns (the paper); < 1: GAE(lambda)
  c.value_coef = 0.05
  c.entropy_start = 0.05
  c.entropy_end = 0.0
  c.entropy_anneal_env_steps = 0  # 0 = over the whole run
  # Evaluation with frozen weights: sample from the policy (as the paper)
  # or act greedily (compare: scripts.reproduce_wang2018 with each).
  c.eval_greedy = False
  # Loop.
  c.num_envs = 128
  c.total_env_steps = 25_000_000  # ~250k episodes of 100 trials
  c.eval_episodes = 300
  if preset == "harlow":
    # 48 units stayed at chance; larger LSTMs learn in abrupt stages
    # (win-stay first, lose-shift later) at a seed-dependent time. With
    # flax's forget bias 0 about 1 seed in 4 stayed in the first stage (~74%
    # from trial 2) in every setting tried; forget-gate bias 1 gets past it.
    # 96 units at lr 4e-3 for 16M env steps: the 128-unit, lr 2e-3, 25M
    # setting (accuracy from trial 2 on held-out objects 0.967-0.973 on
    # seeds 0-3) cost 2.3x the CPU time, which the whole reproduction's
    # 45-minute budget cannot hold. Screen on a GPU (8 seeds vmapped, 500
    # held-out episodes each; seeds reaching >= 0.95 from trial 2):
    # 128 units lr 2e-3 25M 8/8; 96 units lr 2e-3 25M 8/8, 15M 4/8 (too
    # short: the stages start at 9-16M); 96 units lr 4e-3 25M 8/8 (stages
    # at 6-12M), 16M 8/8 (0.956-0.982), 18M 6/8 (two seeds stuck at the
    # first stage); 64 units 25M 6/8 (and 3/4 on CPU). CPU throughput, 4
    # seeds: 65k env steps/s at 128 units, 93k at 96, 170k at 64. This
    # preset's CPU result: README.md (Meta-RL reporting) and
    # python -m scripts.reproduce_wang2018 --workdir=DIR --tasks=harlow
    c.lstm_size = 96
    c.num_envs = 64
    c.forget_bias = 1.0
    c.learning_rate = 4e-3
    c.total_env_steps = 16_000_000
  elif preset == "two_step":
    c.num_envs = 64
    c.total_env_steps = 10_000_000
  elif preset in ("bandit_easy", "bandit_medium"):
    # Two dependent arms (one free parameter) need less than independent
    # arms; 10M (was 25M) keeps the whole reproduction within its budget
    # (regret 1.14 +- 0.04 easy, 1.50 +- 0.08 medium over seeds 0-3 at 10M).
    c.total_env_steps = 10_000_000
  elif preset in ("bandit_dependent_uniform", "bandit_hard"):
    # At 10M these two were still far from converged (seeds 0-3: uniform
    # prior 3.07, 1.73, 1.69, 2.77; hard 7.60, 4.08, 9.86, 9.91, Thompson
    # 4.12), so they keep more of the budget.
    c.total_env_steps = 25_000_000
  elif preset == "restless_bandit":
    c.total_env_steps = 15_000_000  # was 25M; see the dependent bandits
  elif preset == "reversal":
    # Only the critic needs the task's structure (the policy just saccades to
    # the shown target), so the value cost is 10x the paper's; few
    # environments give many updates (with 64 or 16 the critic had not
    # learned to infer after 2M steps), the learning rate is annealed as for
    # bandit_independent. 4 seeds: inference index 0.79 +- 0.05
    # (agents/analysis/wang2018_rpe.py; python -m scripts.reproduce_wang2018
    # --workdir=DIR --tasks=reversal).
    c.num_envs = 8
    c.value_coef = 0.5
    c.learning_rate = 5e-3
    c.anneal_learning_rate = True
    c.total_env_steps = 2_500_000
  elif preset == "bandit_independent":  # why: the module docstring
    c.num_envs = 32
    c.learning_rate = 5e-3
    c.anneal_learning_rate = True
    c.gamma = 0.95
    c.total_env_steps = 50_000_000
  c.rollout_length = episode_env_steps(c.env, c.env_kwargs)
  c.eval_max_steps = c.rollout_length
  c.log_every_env_steps = 50 * c.num_envs * c.rollout_length
  if preset == "harlow":  # 16 segments (log lines, checkpoints)
    c.log_every_env_steps = 1200 * c.num_envs * c.rollout_length
  if preset == "reversal":  # ~16 segments (log lines, checkpoints)
    c.log_every_env_steps = 200 * c.num_envs * c.rollout_length
  if preset == "bandit_independent":
    # ~39 segments (log lines, checkpoints) over the 50M env steps: the
    # time-to-Thompson benchmark restores and evaluates every one.
    c.log_every_env_steps = 400 * c.num_envs * c.rollout_length
  return c
