r"""Jump the gap: distributional agents learn both peaks, DQN learns the mean.

Trains QR-DQN, IQN, ER-DQN and DQN (their `gap` presets) on `jump_the_gap`,
reads each learned return distribution at the start state for the greedy
action (agents/analysis/return_distributions.py) and compares it with the
true one (`JumpTheGap.true_return_distribution(gamma)`):

  DIR/gap_distribution.png   learned vs true distribution (histogram + CDF)
  DIR/gap_distribution.json  W1 of each to the true distribution, the learned
                             values and weights, eval returns
  DIR/<agent>/               each training run (train.train's workdir)

  python -m scripts.gap_distribution --workdir=runs/gap
  python -m scripts.gap_distribution --workdir=/tmp/g --total_env_steps=2000
"""

from __future__ import annotations

import importlib
import json
import os

from absl import app
from absl import flags

from scripts import _cli

_WORKDIR = flags.DEFINE_string("workdir", None, "directory for the results")
_AGENTS = flags.DEFINE_list("agents", ["qr_dqn", "iqn", "er_dqn", "dqn"],
                            "agents to train (configs/<agent>.py:gap)")
_TOTAL_ENV_STEPS = flags.DEFINE_integer(
    "total_env_steps", None, "override the presets' training length")
_SEED = flags.DEFINE_integer("seed", 0, "seed of every run")
_EVAL_EPISODES = flags.DEFINE_integer("eval_episodes", None,
                                      "override the presets' eval episodes")
_OVERWRITE = flags.DEFINE_bool("overwrite", False,
                               "delete runs with a different config")
flags.mark_flags_as_required(["workdir"])


def _config(agent: str):
  config = importlib.import_module(f"configs.{agent}").get_config("gap")
  config.seed = _SEED.value
  if _TOTAL_ENV_STEPS.value is not None:
    config.total_env_steps = _TOTAL_ENV_STEPS.value
    config.log_every_env_steps = min(config.log_every_env_steps,
                                     _TOTAL_ENV_STEPS.value)
    config.min_replay_size = min(config.min_replay_size,
                                 _TOTAL_ENV_STEPS.value // 2 or 1)
  if _EVAL_EPISODES.value is not None:
    config.eval_episodes = _EVAL_EPISODES.value
  return config


def _plot(path, true_values, true_probs, learned, w1):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  names = list(learned)
  fig, axes = plt.subplots(1, len(names) + 1,
                           figsize=(3.2 * (len(names) + 1), 3.2))
  lo = min([true_values.min()] + [v.min() for v, _ in learned.values()]) - 0.15
  hi = max([true_values.max()] + [v.max() for v, _ in learned.values()]) + 0.15
  bins = np.linspace(lo, hi, 41)
  for ax, name in zip(axes, names):
    values, weights = learned[name]
    ax.hist(values, bins=bins, weights=weights, color="C0", alpha=0.7,
            label="learned")
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


def run() -> dict:
  from agents.analysis import return_distributions as rd  # pylint: disable=g-import-not-at-top
  from agents.runtime import train  # pylint: disable=g-import-not-at-top
  from agents import types  # pylint: disable=g-import-not-at-top
  from environments import registry as env_registry  # pylint: disable=g-import-not-at-top

  workdir = _WORKDIR.value
  os.makedirs(workdir, exist_ok=True)
  learned, w1, eval_returns, true = {}, {}, {}, None
  for agent in _AGENTS.value:
    config = _config(agent)
    env = env_registry.make(config.env, **config.env_kwargs.to_dict())
    specs = types.EnvSpecs(env.observation_spec(), env.action_spec())
    true_values, true_probs = env.true_return_distribution(config.gamma)
    if true is None:
      true = (true_values, true_probs, config.gamma)
    elif config.gamma != true[2]:
      raise ValueError(f"{agent}'s gap preset has gamma {config.gamma}, "
                       f"the others {true[2]}: the true distributions differ")
    holder = {}
    summary = train.train(config, os.path.join(workdir, agent),
                          overwrite=_OVERWRITE.value, _state_out=holder)
    params = rd.agent_params_from_state(holder["state"])
    values, weights = rd.learned_return_distribution(
        config, specs, params, rd.start_observation(env))
    learned[agent] = (values, weights)
    w1[agent] = rd.wasserstein1(values, weights, true_values, true_probs)
    eval_returns[agent] = summary["eval_return_mean"]
    print(f"{agent}: W1 to the true return distribution {w1[agent]:.4f} "
          f"(mean {float((values * weights).sum()):.3f})")
  true_values, true_probs, gamma = true
  _plot(os.path.join(workdir, "gap_distribution.png"), true_values,
        true_probs, learned, w1)
  result = {
      "gamma": gamma,
      "true_values": true_values.tolist(),
      "true_probs": true_probs.tolist(),
      "true_mean": float((true_values * true_probs).sum()),
      "wasserstein1": w1,
      "eval_return_mean": eval_returns,
      "learned": {k: {"values": v.tolist(), "weights": w.tolist()}
                  for k, (v, w) in learned.items()},
  }
  with open(os.path.join(workdir, "gap_distribution.json"), "w") as f:
    json.dump(result, f, indent=2)
  print(f"wrote {workdir}/gap_distribution.png and gap_distribution.json")
  return result


def main(argv):
  del argv
  _cli.run_main(run)


if __name__ == "__main__":
  app.run(main, flags_parser=_cli.parse_flags)
