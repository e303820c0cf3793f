"""The Wang et al. 2018 (and 2016) meta-RL reproduction: train, evaluate,
measure, plot. `scripts/reproduce_wang2018.py` is its command line.

For every task it trains the recurrent A2C agent (configs/meta_a2c.py) through
`agents.runtime.train.train` into DIR/<task>/ (so an interrupted run resumes),
then freezes the weights and evaluates it with `agents.analysis.meta_rl` on
held-out episodes (a key training never used; Harlow on held-out objects):

  bandit_*          cumulative regret per trial vs Thompson sampling, UCB1,
                    the best fixed Rescorla-Wagner learner and Bayes-optimal,
                    all on the same episodes' arm probabilities
  restless_bandit   regret vs the same baselines (+ discounted Thompson) and
                    the Rescorla-Wagner learning rate fitted to the agent's
                    choices at each volatility
  harlow            accuracy by trial index on held-out objects
  two_step          stay probabilities and the logistic regression
                    stay ~ reward * transition (interaction p-value)
  ablation          bandit_independent trained without the reward input

`time_to_thompson` measures when the independent-bandit agent first reaches
Thompson sampling's regret, from its per-segment checkpoints (read through
`Checkpointer`, an unreadable one skipped with one warning line).
`run_reproduction` writes DIR/summary.json after every task (nothing is lost
to an interruption) and the figures DIR/*.png (`write_figures`), and returns
the summary; `benchmark_table` is the printed speed table.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

import jax
import numpy as np

from agents.analysis import meta_rl
from agents.runtime import anakin
from agents.runtime import benchmarks
from agents.runtime import checkpointing
from agents.runtime import metrics_log
from agents.runtime import train as train_lib
from agents.runtime import workdir as workdir_lib
from agents.runtime.errors import UserError
from environments import registry

BANDITS = (
    "bandit_independent",
    "bandit_dependent_uniform",
    "bandit_easy",
    "bandit_medium",
    "bandit_hard",
)
TASKS = BANDITS + ("restless_bandit", "harlow", "two_step", "ablation")
EVAL_SEED = 2_000_003  # evaluation episodes' key (training never uses it)
QUICK_EVAL_EPISODES = 40  # at most this many with `quick`
TIME_TO_THOMPSON_EPISODES = 300  # at most this many per checkpoint


def check_arguments(workdir: str, tasks, num_episodes: int) -> None:
  """Raises UserError for a bad workdir, task or episode count, before
  anything is written."""
  workdir_lib.ensure_writable_dir(workdir)
  if not tasks:
    raise UserError(f"no tasks given; allowed: {', '.join(TASKS)}")
  unknown = [t for t in tasks if t not in TASKS]
  if unknown:
    raise UserError(
        f"unknown task(s) {', '.join(unknown)}; allowed: {', '.join(TASKS)}"
    )
  if num_episodes < 1:
    raise UserError(
        f"--eval_episodes must be >= 1 (the held-out episodes "
        f"every number is averaged over), got {num_episodes}"
    )


def task_config(task: str, quick: bool, seed: int | None = None):
  """configs/meta_a2c.py's preset for `task` (quick: tiny, for smoke tests)."""
  from configs import meta_a2c  # pylint: disable=g-import-not-at-top

  preset = "bandit_independent" if task == "ablation" else task
  c = meta_a2c.get_config(preset)
  if seed is not None:
    c.seed = seed
  if task == "ablation":
    c.use_reward_input = False
  if task == "bandit_independent":
    # Keep every segment's checkpoint: the time-to-Thompson benchmark reads
    # them back.
    c.keep_checkpoints = 1000
  if quick:
    c.num_envs = 8
    c.lstm_size = 16
    c.total_env_steps = 8 * c.rollout_length * 6
    c.log_every_env_steps = 8 * c.rollout_length * 2
    c.eval_episodes = 4
  return c


def _seed0(tree):
  return jax.tree.map(lambda x: x[0], tree)


def train_task(task, config, workdir, log):
  """Trains (or resumes) `task` in DIR/<task>; returns (agent, loop, seed 0's
  params, the training numbers of the summary)."""
  result = train_lib.train(
      config, os.path.join(workdir, task), log=lambda m: log(f"  {m}")
  )
  agent, loop = train_lib.build_loop(config)
  params = _seed0(anakin.fetch_replicated(result.state.agent_state.params))
  training = {
      k: result.summary[k]
      for k in (
          "env_steps",
          "wall_seconds",
          "compile_seconds",
          "env_steps_per_second",
          "num_envs",
      )
  }
  return agent, loop, params, training


def regret_numbers(curve) -> dict[str, Any]:
  """The last trial's regret (and stderr, fitted parameters) of a curve."""
  mean = np.asarray(curve["mean"])
  out = {
      "regret_at_trial_100"
      if mean.size == 100
      else f"regret_at_trial_{mean.size}": float(mean[-1])
  }
  if "stderr" in curve:
    out["stderr"] = float(np.asarray(curve["stderr"])[-1])
  for key in ("alpha", "beta", "decay"):
    if key in curve:
      out[key] = curve[key]
  return out


def evaluate_bandit(
    agent, env, params, num_episodes, key, stationary=True, quick=False
):
  """(record, regret curves of the agent, the baselines and chance) on the
  same held-out episodes."""
  eval_key, baseline_key, select_key = jax.random.split(key, 3)
  record = meta_rl.rollout(agent, env, params, eval_key, num_episodes)
  probs = record.info["arm_probabilities"]
  mean, stderr = meta_rl.agent_regret(record)
  selection = meta_rl.task_probabilities(
      env, select_key, 100 if quick else 1000
  )
  grid = dict(rw_alphas=[0.1, 0.3, 0.6], rw_betas=[3.0, 10.0]) if quick else {}
  baselines = meta_rl.baseline_regrets(
      probs,
      baseline_key,
      selection_probabilities=selection,
      stationary=stationary,
      include_bayes_optimal=stationary,
      **grid,
  )
  curves = dict(agent=dict(mean=mean, stderr=stderr), **baselines)
  curves["chance"] = dict(mean=meta_rl.chance_regret(probs))
  return record, curves


def time_to_thompson(
    task_dir, config, agent, loop, thompson_regret, num_episodes, key
):
  """First checkpoint whose frozen agent has regret <= Thompson's: returns
  its env steps and training wall time (from metrics.csv), and every
  readable checkpoint's regret (`history`)."""
  rows = metrics_log.MetricsLog(os.path.join(task_dir, "metrics.csv")).read()
  abstract = loop.abstract_state(config.num_seeds)
  steps_per_segment = loop.env_steps_per_segment
  checkpoints = checkpointing.Checkpointer(
      os.path.join(task_dir, "checkpoints"), max_to_keep=None
  )
  history = []
  found = None
  try:
    for step in checkpoints.all_steps():
      state = checkpoints.restore(step, abstract)
      if state is None:  # unreadable: warned, skipped
        continue
      params = _seed0(anakin.fetch_replicated(state.agent_state.params))
      record = meta_rl.rollout(agent, loop.env, params, key, num_episodes)
      regret = float(meta_rl.agent_regret(record)[0][-1])
      env_steps = step * steps_per_segment
      wall = next(
          (
              float(r["wall_seconds"])
              for r in rows
              if int(float(r["env_steps"])) == env_steps
          ),
          float("nan"),
      )
      history.append(
          dict(env_steps=env_steps, wall_seconds=wall, regret=regret)
      )
      if found is None and regret <= thompson_regret:
        found = history[-1]
  finally:
    checkpoints.close()
  return dict(thompson_regret=thompson_regret, reached=found, history=history)


def evaluate_task(
    task, config, agent, loop, params, num_episodes, key, task_dir, quick
) -> dict[str, Any]:
  """The paper's numbers for one trained task (see the module docstring)."""
  result: dict[str, Any] = {}
  if task in BANDITS or task == "ablation":
    _, curves = evaluate_bandit(
        agent, loop.env, params, num_episodes, key, stationary=True, quick=quick
    )
    if task == "ablation":
      curves = {k: curves[k] for k in ("agent", "chance", "thompson")}
    result["regret"] = {k: regret_numbers(v) for k, v in curves.items()}
    result["curves"] = curves
    if task == "bandit_independent":
      result["time_to_thompson"] = time_to_thompson(
          task_dir,
          config,
          agent,
          loop,
          float(curves["thompson"]["mean"][-1]),
          min(num_episodes, TIME_TO_THOMPSON_EPISODES),
          key,
      )
  elif task == "restless_bandit":
    env = loop.env
    record, curves = evaluate_bandit(
        agent, env, params, num_episodes, key, stationary=False, quick=quick
    )
    result["regret"] = {k: regret_numbers(v) for k, v in curves.items()}
    result["fitted_rescorla_wagner"] = meta_rl.restless_learning_rates(
        record, tuple(env.volatilities)
    )
    result["curves"] = curves
  elif task == "harlow":
    env = registry.make("harlow_test", **config.env_kwargs.to_dict())
    record = meta_rl.rollout(agent, env, params, key, num_episodes)
    accuracy = meta_rl.harlow_accuracy_by_trial(record, env.num_trials)
    train_env = registry.make("harlow", **config.env_kwargs.to_dict())
    train_accuracy = meta_rl.harlow_accuracy_by_trial(
        meta_rl.rollout(agent, train_env, params, key, num_episodes),
        env.num_trials,
    )
    result["accuracy_by_trial_test_objects"] = [float(a) for a in accuracy]
    result["accuracy_by_trial_train_objects"] = [
        float(a) for a in train_accuracy
    ]
    result["trial_1_accuracy"] = float(accuracy[0])
    result["accuracy_from_trial_2"] = float(np.mean(accuracy[1:]))
  elif task == "two_step":
    record = meta_rl.rollout(agent, loop.env, params, key, num_episodes)
    stays = meta_rl.two_step_stays(record)
    result["stay_probabilities"] = meta_rl.stay_probabilities(**stays)
    try:
      result["regression"] = meta_rl.stay_regression(**stays)
      result["interaction_p_value"] = result["regression"]["p_values"][
          "reward_x_transition"
      ]
    except Exception as e:  # pylint: disable=broad-except
      result["regression"] = f"failed: {type(e).__name__}: {e}"
  return result


def run_reproduction(
    workdir: str,
    quick: bool,
    tasks,
    num_episodes: int,
    *,
    log: Callable[[str], None] = print,
    seed: int | None = None,
) -> dict[str, Any]:
  """Trains and evaluates `tasks` into `workdir`; returns the summary.

  Raises UserError (before anything is written) for a bad workdir, task or
  episode count. Tasks of a previous invocation with the same `quick` stay
  in summary.json.
  """
  check_arguments(workdir, tasks, num_episodes)
  start = time.perf_counter()
  os.makedirs(workdir, exist_ok=True)
  if quick:
    num_episodes = min(num_episodes, QUICK_EVAL_EPISODES)
  summary_path = os.path.join(workdir, "summary.json")
  summary = {"quick": quick, "eval_episodes": num_episodes, "tasks": {}}
  if os.path.exists(summary_path):  # a previous invocation's tasks are kept
    with open(summary_path) as f:
      previous = json.load(f)
    if previous.get("quick") == quick:
      summary["tasks"].update(previous.get("tasks", {}))
  for task in tasks:
    t0 = time.perf_counter()
    log(f"[wang2018] {task}: training")
    config = task_config(task, quick, seed)
    agent, loop, params, training = train_task(task, config, workdir, log)
    result = {"training": training}
    result.update(
        evaluate_task(
            task,
            config,
            agent,
            loop,
            params,
            num_episodes,
            jax.random.PRNGKey(EVAL_SEED),
            os.path.join(workdir, task),
            quick,
        )
    )
    result["task_wall_seconds"] = time.perf_counter() - t0
    summary["tasks"][task] = _jsonable(result)
    # After every task: nothing is lost to an interruption.
    workdir_lib.write_json_atomic(summary_path, summary)
    log(f"[wang2018] {task}: {headline(task, result)}")
  summary["figures"] = write_figures(workdir, summary)
  summary["total_wall_seconds"] = time.perf_counter() - start
  summary["sum_of_task_wall_seconds"] = sum(
      t["task_wall_seconds"] for t in summary["tasks"].values()
  )
  summary["platform"] = jax.default_backend()
  workdir_lib.write_json_atomic(summary_path, summary)
  log(benchmark_table(summary))
  log(
      f"[wang2018] done in {summary['total_wall_seconds']:.0f}s; "
      f"summary in {summary_path}"
  )
  return summary


def _jsonable(tree):
  """numpy arrays and scalars -> lists and Python numbers (JSON's types)."""

  def default(x):
    if isinstance(x, np.ndarray):
      return x.tolist()
    if isinstance(x, (np.floating, np.integer, np.bool_)):
      return x.item()
    if isinstance(x, jax.Array):
      return np.asarray(x).tolist()
    raise TypeError(type(x))

  return json.loads(json.dumps(tree, default=default))


def benchmark_table(summary) -> str:
  """The printed benchmark: per task its training env steps, training time,
  env steps/s and whole task time (training, evaluation, baselines); then
  the time the independent-bandit agent took to reach Thompson's regret and
  this invocation's total wall time."""
  rows = [("task", "env steps", "training s", "env steps/s", "task s")]
  for task, result in summary["tasks"].items():
    t = result.get("training", {})
    rows.append(
        (
            task,
            f"{t.get('env_steps', 0):,}",
            f"{t.get('wall_seconds', float('nan')):.1f}",
            benchmarks.rate(t.get("env_steps_per_second", 0.0)),
            f"{result.get('task_wall_seconds', float('nan')):.1f}",
        )
    )
  lines = [
      "[wang2018] benchmark (" + summary["platform"] + ")",
      benchmarks.format_table(rows),
  ]
  ttt = summary["tasks"].get("bandit_independent", {}).get("time_to_thompson")
  if ttt is not None:
    reached = ttt.get("reached")
    lines.append(
        "independent bandits to Thompson's regret "
        f"({ttt['thompson_regret']:.2f}): "
        + (
            f"{reached['wall_seconds']:.1f} s of training, "
            f"{reached['env_steps']:,} env steps (regret "
            f"{reached['regret']:.2f})"
            if reached
            else "not reached"
        )
    )
  lines.append(f"whole invocation: {summary['total_wall_seconds']:.0f} s")
  return "\n".join(lines)


# ---- figures ----------------------------------------------------------------

_BASELINE_STYLE = {
    "agent": ("meta-RL agent (frozen)", "k", "-"),
    "thompson": ("Thompson sampling", "tab:blue", "--"),
    "thompson_discounted": ("discounted Thompson", "tab:cyan", "--"),
    "ucb1": ("UCB1", "tab:orange", "--"),
    "best_fixed_rw": ("best fixed Rescorla-Wagner", "tab:green", "--"),
    "bayes_optimal": ("Bayes-optimal", "tab:red", ":"),
    "chance": ("chance", "0.6", ":"),
}


def write_figures(workdir, summary) -> list[str]:
  """The paper's panels as PNGs in `workdir`; returns their file names."""
  tasks = summary["tasks"]
  curves_by_task = {k: v["curves"] for k, v in tasks.items() if "curves" in v}
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  written = []

  def save(fig, name):
    fig.tight_layout()
    fig.savefig(os.path.join(workdir, name), dpi=110)
    plt.close(fig)
    written.append(name)

  def regret_axes(ax, curves, title, skip=("chance",)):
    for name, curve in curves.items():
      if name in skip:
        continue
      label, color, style = _BASELINE_STYLE.get(name, (name, None, "-"))
      mean = np.asarray(curve["mean"])
      trials = np.arange(1, mean.size + 1)
      ax.plot(trials, mean, style, color=color, label=label)
      if "stderr" in curve and name == "agent":
        se = np.asarray(curve["stderr"])
        ax.fill_between(trials, mean - se, mean + se, color=color, alpha=0.2)
    ax.set_xlabel("trial")
    ax.set_ylabel("cumulative expected regret")
    ax.set_title(title)
    ax.legend(fontsize=7)

  for task in ("bandit_independent", "restless_bandit"):
    if task in curves_by_task:
      fig, ax = plt.subplots(figsize=(5, 4))
      regret_axes(ax, curves_by_task[task], f"{task}: regret (held-out)")
      save(fig, f"regret_{task}.png")
  dependent = [
      t
      for t in (
          "bandit_easy",
          "bandit_medium",
          "bandit_hard",
          "bandit_dependent_uniform",
      )
      if t in curves_by_task
  ]
  if dependent:
    fig, ax = plt.subplots(figsize=(5, 4))
    for task in dependent:
      mean = np.asarray(curves_by_task[task]["agent"]["mean"])
      ax.plot(np.arange(1, mean.size + 1), mean, label=f"agent, {task}")
      thompson = np.asarray(curves_by_task[task]["thompson"]["mean"])
      ax.plot(
          np.arange(1, mean.size + 1),
          thompson,
          ":",
          color=ax.lines[-1].get_color(),
          label=f"Thompson, {task}",
      )
    ax.set_xlabel("trial")
    ax.set_ylabel("cumulative expected regret")
    ax.set_title("dependent bandits: easy < medium < hard")
    ax.legend(fontsize=6)
    save(fig, "regret_dependent_bandits.png")
  if "ablation" in curves_by_task:
    fig, ax = plt.subplots(figsize=(5, 4))
    curves = dict(curves_by_task["ablation"])
    agent = curves.pop("agent")
    ax.plot(
        np.arange(1, np.size(agent["mean"]) + 1),
        agent["mean"],
        "k-",
        label="agent without reward input",
    )
    if "bandit_independent" in curves_by_task:
      full = curves_by_task["bandit_independent"]["agent"]["mean"]
      ax.plot(
          np.arange(1, np.size(full) + 1),
          full,
          "b-",
          label="agent with reward input",
      )
    ax.plot(
        np.arange(1, np.size(curves["chance"]["mean"]) + 1),
        curves["chance"]["mean"],
        ":",
        color="0.5",
        label="chance",
    )
    ax.set_xlabel("trial")
    ax.set_ylabel("cumulative expected regret")
    ax.set_title("reward-input ablation (independent bandits)")
    ax.legend(fontsize=7)
    save(fig, "ablation_reward_input.png")
  if "harlow" in tasks:
    fig, ax = plt.subplots(figsize=(5, 4))
    for split, style in (("test", "ko-"), ("train", "s--")):
      accuracy = np.asarray(
          tasks["harlow"][f"accuracy_by_trial_{split}_objects"], float
      )
      ax.plot(
          np.arange(1, accuracy.size + 1),
          accuracy,
          style,
          label=f"{split} objects",
      )
    ax.axhline(0.5, color="0.6", ls=":")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("trial within episode")
    ax.set_ylabel("fraction correct")
    ax.set_title("Harlow task (frozen weights)")
    ax.legend()
    save(fig, "harlow_accuracy_by_trial.png")
  if "two_step" in tasks:
    stays = tasks["two_step"]["stay_probabilities"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    x = np.arange(2)
    common = [stays["rewarded_common"], stays["unrewarded_common"]]
    rare = [stays["rewarded_rare"], stays["unrewarded_rare"]]
    ax.bar(x - 0.2, common, 0.4, label="common", color="tab:blue")
    ax.bar(x + 0.2, rare, 0.4, label="rare", color="tab:red")
    ax.set_xticks(x, ["rewarded", "unrewarded"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("stay probability")
    p = summary["tasks"]["two_step"].get("interaction_p_value")
    ax.set_title(
        "two-step task" + (f" (interaction p={p:.2g})" if p is not None else "")
    )
    ax.legend()
    save(fig, "two_step_stay_probabilities.png")
  restless = tasks.get("restless_bandit", {}).get("fitted_rescorla_wagner")
  if restless:
    fig, ax = plt.subplots(figsize=(4, 4))
    names = list(restless)
    ax.bar(
        np.arange(len(names)),
        [restless[k]["alpha"] for k in names],
        color="tab:purple",
    )
    ax.set_xticks(np.arange(len(names)), [f"volatility {k}" for k in names])
    ax.set_ylabel("fitted Rescorla-Wagner learning rate")
    ax.set_title("restless bandit")
    save(fig, "restless_fitted_learning_rates.png")
  return written


def _final_regret(numbers) -> float:
  return next(v for k, v in numbers.items() if k.startswith("regret_at_trial"))


def headline(task, result) -> str:
  """The one progress line printed after a task."""
  if "regret" in result:
    parts = [f"{k} {_final_regret(v):.2f}" for k, v in result["regret"].items()]
    text = "regret at last trial: " + ", ".join(parts)
    if "fitted_rescorla_wagner" in result:
      text += "; fitted alpha " + ", ".join(
          f"v={k}: {v['alpha']:.3f}"
          for k, v in result["fitted_rescorla_wagner"].items()
      )
    return text
  if task == "harlow":
    return (
        f"trial 1 {result['trial_1_accuracy']:.2f}, trials 2+ "
        f"{result['accuracy_from_trial_2']:.3f}"
    )
  if task == "two_step":
    return (
        f"stay {result['stay_probabilities']}, interaction p "
        f"{result.get('interaction_p_value', float('nan')):.2g}"
    )
  return ""
