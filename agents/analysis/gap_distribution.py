"""Jump the gap: distributional agents learn both peaks, DQN learns the mean.

Trains value-based agents (their `gap` presets) on `jump_the_gap`, reads
each learned return distribution at the start state for the greedy action
(`return_distributions.learned_return_distribution`) and compares it with
the true one (`JumpTheGap.true_return_distribution(gamma)`) in W1.
`scripts/gap_distribution.py` is its command line; `run` writes

  DIR/gap_distribution.png   learned vs true distribution (histogram + CDF)
  DIR/gap_distribution.json  W1 of each to the true distribution, the learned
                             values and weights, eval returns
  DIR/<agent>/               each training run (train.train's workdir)
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable, Sequence

import numpy as np

from agents import types
from agents.analysis import return_distributions
from agents.lib import distributional
from agents.runtime import train as train_lib
from agents.runtime import workdir as workdir_lib
from agents.runtime.errors import UserError
from environments import registry as env_registry

# The value-based agents with a `gap` preset: the distributional three and
# DQN (one atom at its Q-value), the control.
AGENTS = ("qr_dqn", "iqn", "er_dqn", "dqn")


def check_arguments(
    workdir: str,
    agents: Sequence[str],
    total_env_steps: int | None,
    eval_episodes: int | None,
) -> None:
  """Raises UserError for a bad workdir, agent list or override."""
  workdir_lib.ensure_writable_dir(workdir)
  if not agents:
    raise UserError(f"--agents is empty; allowed: {', '.join(AGENTS)}")
  unknown = [a for a in agents if a not in AGENTS]
  if unknown:
    raise UserError(
        f"--agents: {', '.join(unknown)} cannot be compared here; allowed: "
        f"{', '.join(AGENTS)} (value-based agents with a gap preset)"
    )
  if total_env_steps is not None and total_env_steps < 1:
    raise UserError(f"--total_env_steps must be >= 1, got {total_env_steps}")
  if eval_episodes is not None and eval_episodes < 1:
    raise UserError(f"--eval_episodes must be >= 1, got {eval_episodes}")


def gap_config(
    agent: str,
    seed: int,
    total_env_steps: int | None = None,
    eval_episodes: int | None = None,
):
  """configs/<agent>.py:gap with the command line's overrides."""
  config = importlib.import_module(f"configs.{agent}").get_config("gap")
  config.seed = seed
  if total_env_steps is not None:
    config.total_env_steps = total_env_steps
    config.log_every_env_steps = min(
        config.log_every_env_steps, total_env_steps
    )
    config.min_replay_size = min(
        config.min_replay_size, total_env_steps // 2 or 1
    )
  if eval_episodes is not None:
    config.eval_episodes = eval_episodes
  return config


def run(
    workdir: str,
    agents: Sequence[str],
    *,
    seed: int = 0,
    total_env_steps: int | None = None,
    eval_episodes: int | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Trains `agents`, compares their learned distributions with the true
  one, writes the figure and the JSON; returns the JSON's content."""
  check_arguments(workdir, agents, total_env_steps, eval_episodes)
  os.makedirs(workdir, exist_ok=True)
  learned, w1, eval_returns, true = {}, {}, {}, None
  for agent in agents:
    config = gap_config(agent, seed, total_env_steps, eval_episodes)
    env = env_registry.make(config.env, **config.env_kwargs.to_dict())
    specs = types.EnvSpecs(env.observation_spec(), env.action_spec())
    true_values, true_probs = env.true_return_distribution(config.gamma)
    if true is None:
      true = (true_values, true_probs, config.gamma)
    elif config.gamma != true[2]:
      raise ValueError(
          f"{agent}'s gap preset has gamma {config.gamma}, "
          f"the others {true[2]}: the true distributions differ"
      )
    result = train_lib.train(
        config, os.path.join(workdir, agent), overwrite=overwrite, log=log
    )
    params = return_distributions.agent_params_from_state(result.state)
    values, weights = return_distributions.learned_return_distribution(
        config, specs, params, return_distributions.start_observation(env)
    )
    learned[agent] = (values, weights)
    w1[agent] = distributional.wasserstein1(
        values, weights, true_values, true_probs
    )
    eval_returns[agent] = result.summary["eval_return_mean"]
    log(
        f"{agent}: W1 to the true return distribution {w1[agent]:.4f} "
        f"(mean {float((values * weights).sum()):.3f})"
    )
  true_values, true_probs, gamma = true
  plot_learned_vs_true(
      os.path.join(workdir, "gap_distribution.png"),
      true_values,
      true_probs,
      learned,
      w1,
  )
  result = {
      "gamma": gamma,
      "true_values": true_values.tolist(),
      "true_probs": true_probs.tolist(),
      "true_mean": float((true_values * true_probs).sum()),
      "wasserstein1": w1,
      "eval_return_mean": eval_returns,
      "learned": {
          k: {"values": v.tolist(), "weights": w.tolist()}
          for k, (v, w) in learned.items()
      },
  }
  workdir_lib.write_json_atomic(
      os.path.join(workdir, "gap_distribution.json"), result
  )
  log(f"wrote {workdir}/gap_distribution.png and gap_distribution.json")
  return result


def plot_learned_vs_true(path, true_values, true_probs, learned, w1) -> None:
  """One histogram per agent over the true atoms, and all CDFs together."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  names = list(learned)
  fig, axes = plt.subplots(
      1, len(names) + 1, figsize=(3.2 * (len(names) + 1), 3.2)
  )
  lo = min([true_values.min()] + [v.min() for v, _ in learned.values()]) - 0.15
  hi = max([true_values.max()] + [v.max() for v, _ in learned.values()]) + 0.15
  bins = np.linspace(lo, hi, 41)
  for ax, name in zip(axes, names):
    values, weights = learned[name]
    ax.hist(
        values,
        bins=bins,
        weights=weights,
        color="C0",
        alpha=0.7,
        label="learned",
    )
    ax.vlines(true_values, 0, true_probs, colors="k", lw=3, label="true")
    ax.set_title(f"{name}  (W1 {w1[name]:.3f})")
    ax.set_xlabel("return from the start state")
    ax.set_ylim(0, 1.05)
  axes[0].set_ylabel("probability")
  axes[0].legend(loc="upper center", fontsize=8)
  cdf_ax = axes[-1]
  grid = np.linspace(lo, hi, 400)
  cdf = lambda v, w: np.array([w[v <= g].sum() for g in grid])
  cdf_ax.plot(grid, cdf(true_values, true_probs), "k", lw=3, label="true")
  for i, name in enumerate(names):
    cdf_ax.plot(grid, cdf(*learned[name]), f"C{i}", label=name)
  cdf_ax.set_title("CDFs")
  cdf_ax.set_xlabel("return from the start state")
  cdf_ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
