"""The bandit rows of the Wang et al. 2018 reproduction (Fig. 1, Fig. 3 and
the reward-input ablation): the agent's regret per training seed against
Thompson sampling, UCB1, the best fixed Rescorla-Wagner learner and
Bayes-optimal on the same held-out episodes, the time to Thompson's regret
over the training checkpoints, and their figures.
`agents/analysis/wang2018.py` (the runner and the EXPERIMENTS registry) uses
them; what each number is: its module docstring.
"""

from __future__ import annotations

import os
from typing import Any, TYPE_CHECKING

import jax
import numpy as np

from agents import bandit_baselines
from agents.analysis import meta_rl
from agents.analysis.figures import plot_seeds
from agents.analysis.seed_stats import mean_sd
from agents.analysis.seed_stats import seed_stats
from agents.analysis.seed_stats import split_seeds
from agents.runtime import anakin
from agents.runtime import checkpointing
from agents.runtime import metrics_log

if TYPE_CHECKING:
  from agents.analysis.wang2018 import Context

TIME_TO_THOMPSON_EPISODES = 300  # at most this many per checkpoint
SMOOTHING_CHECKPOINTS = 3  # trailing window of time_to_thompson's `smoothed`
# The best fixed Rescorla-Wagner learner's grid (learning rate x inverse
# temperature): wide enough that the optimum on independent bandits is
# interior (the old grid's beta <= 100 put it on the edge).
RW_ALPHAS = tuple(float(a) for a in np.geomspace(0.01, 1.0, 21))
RW_BETAS = tuple(float(b) for b in np.geomspace(1.0, 3000.0, 24))


def regret_numbers(curve) -> dict[str, Any]:
  """The last trial's regret (and stderr, fitted parameters) of a curve."""
  mean = np.asarray(curve["mean"])
  out = {f"regret_at_trial_{mean.size}": float(mean[-1])}
  for key in ("stderr",):
    if key in curve:
      out[key] = float(np.asarray(curve[key])[-1])
  for key in ("alpha", "beta", "decay", "method", "grid"):
    if key in curve:
      out[key] = curve[key]
  return out


def final_regret(numbers) -> float:
  """The regret_at_trial_<L> entry of `regret_numbers`' dict."""
  return next(v for k, v in numbers.items() if k.startswith("regret_at_trial"))


def bandit_baselines_on(
    env, probs, key, *, stationary, exact_bayes, quick
) -> dict[str, dict[str, Any]]:
  """Every baseline's regret curve on the episodes of `probs` [N, L, 2]."""
  baseline_key, select_key = jax.random.split(key)
  selection = meta_rl.task_probabilities(
      env, select_key, 100 if quick else 1000
  )
  grid = (
      dict(rw_alphas=[0.1, 0.3, 0.6], rw_betas=[3.0, 10.0])
      if quick
      else dict(rw_alphas=RW_ALPHAS, rw_betas=RW_BETAS)
  )
  curves = meta_rl.baseline_regrets(
      probs,
      baseline_key,
      selection_probabilities=selection,
      stationary=stationary,
      include_bayes_optimal=stationary,
      **grid,
  )
  rw = curves["best_fixed_rw"]
  rw["grid"] = dict(
      alphas=[float(a) for a in grid["rw_alphas"]],
      betas=[float(b) for b in grid["rw_betas"]],
      interior=bool(
          min(grid["rw_alphas"]) < rw["alpha"] < max(grid["rw_alphas"])
          and min(grid["rw_betas"]) < rw["beta"] < max(grid["rw_betas"])
      ),
  )
  if stationary:
    played = curves.pop("bayes_optimal")
    played["method"] = (
        "the independent-arm Bayes-optimal table played on these episodes"
    )
    curves["bayes_optimal_same_episodes"] = played
    if exact_bayes:
      curves["bayes_optimal"] = dict(
          mean=bandit_baselines.bayes_optimal_regret_curve(probs.shape[1]),
          method="exact dynamic program, averaged over the prior",
      )
  curves["chance"] = dict(mean=meta_rl.chance_regret(probs))
  return curves


def bandit_evaluator(
    *, stationary=True, exact_bayes=False, baselines=None, thompson=False
):
  """The `evaluate` of a bandit experiment: the agent's regret per seed and
  the baselines' on the same held-out episodes (`baselines`: names kept;
  `thompson`: time to Thompson's regret from the checkpoints)."""

  def evaluate(ctx: Context) -> dict[str, Any]:
    env = ctx.loop.env
    eval_key, baseline_key = jax.random.split(ctx.key)
    per_seed, records = [], []
    for params in ctx.params:
      record = meta_rl.rollout(
          ctx.agent, env, params, eval_key, ctx.num_episodes
      )
      mean, stderr = meta_rl.agent_regret(record)
      per_seed.append(
          dict(regret_numbers(dict(mean=mean, stderr=stderr)), curve=mean)
      )
      records.append(record)
    curves = bandit_baselines_on(
        env,
        records[0].info["arm_probabilities"],
        baseline_key,
        stationary=stationary,
        exact_bayes=exact_bayes,
        quick=ctx.quick,
    )
    if baselines is not None:
      curves = {k: v for k, v in curves.items() if k in baselines}
    if not stationary:
      for numbers, record in zip(per_seed, records):
        numbers["fitted_rescorla_wagner"] = meta_rl.restless_learning_rates(
            record, tuple(env.volatilities)
        )
    result = dict(
        per_seed=per_seed,
        regret={k: regret_numbers(v) for k, v in curves.items()},
        curves=curves,
    )
    # The agent beside the baselines: its mean over seeds (and each seed).
    finals = [final_regret(numbers) for numbers in per_seed]
    result["regret"] = dict(
        agent={
            f"regret_at_trial_{len(per_seed[0]['curve'])}": float(
                np.mean(finals)
            ),
            "sd": seed_stats(finals)["sd"],
            "per_seed": finals,
        },
        **result["regret"],
    )
    if exact_bayes and "bayes_optimal" in curves:
      optimum = final_regret(result["regret"]["bayes_optimal"])
      for numbers in per_seed:
        numbers["ratio_to_bayes_optimal"] = final_regret(numbers) / optimum
    if thompson:
      ttt = time_to_thompson(
          ctx,
          final_regret(result["regret"]["thompson"]),
          min(ctx.num_episodes, TIME_TO_THOMPSON_EPISODES),
      )
      for numbers, seed_ttt in zip(per_seed, ttt):
        numbers["time_to_thompson"] = seed_ttt
    return result

  return evaluate


def first_index_staying_below(values, threshold) -> int | None:
  """Smallest k with values[j] <= threshold for every j >= k (None if the
  last value is above, or no values)."""
  values = np.asarray(values, np.float64)
  above = np.nonzero(~(values <= threshold))[0]
  if values.size == 0:
    return None
  k = 0 if above.size == 0 else int(above[-1]) + 1
  return k if k < values.size else None


def first_smoothed_crossing(values, threshold, window: int) -> int | None:
  """First k >= window - 1 whose trailing mean of the `window` values
  values[k - window + 1 .. k] is <= threshold, or None."""
  values = np.asarray(values, np.float64)
  for k in range(window - 1, values.size):
    if np.mean(values[k - window + 1 : k + 1]) <= threshold:
      return k
  return None


def first_index_below(values, threshold) -> int | None:
  """First k with values[k] <= threshold, or None."""
  hits = np.nonzero(np.asarray(values, np.float64) <= threshold)[0]
  return int(hits[0]) if hits.size else None


def time_to_thompson(ctx: Context, thompson_regret, num_episodes):
  """Per seed: its regret at every readable checkpoint (`history`) and when
  it got to Thompson's regret (`stays_below`, `smoothed`, `first_dip`: each
  the checkpoint's env steps, training wall time and regret, or None)."""
  task_dir = ctx.task_dir
  rows = metrics_log.MetricsLog(os.path.join(task_dir, "metrics.csv")).read()
  loop = ctx.loop
  abstract = loop.abstract_state(ctx.config.num_seeds)
  checkpoints = checkpointing.Checkpointer(
      os.path.join(task_dir, "checkpoints"), max_to_keep=None
  )
  points, regrets = [], []  # per checkpoint; regrets [checkpoint][seed]
  try:
    for step in checkpoints.all_steps():
      state = checkpoints.restore(step, abstract)
      if state is None:  # unreadable: warned, skipped
        continue
      params = split_seeds(
          anakin.fetch_replicated(state.agent_state.params),
          ctx.config.num_seeds,
      )
      regrets.append(
          [
              float(
                  meta_rl.agent_regret(
                      meta_rl.rollout(
                          ctx.agent, loop.env, p, ctx.key, num_episodes
                      )
                  )[0][-1]
              )
              for p in params
          ]
      )
      env_steps = step * loop.env_steps_per_segment
      wall = next(
          (
              float(r["wall_seconds"])
              for r in rows
              if int(float(r["env_steps"])) == env_steps
          ),
          float("nan"),
      )
      points.append(dict(env_steps=int(env_steps), wall_seconds=wall))
  finally:
    checkpoints.close()
  out = []
  for seed in range(ctx.config.num_seeds):
    curve = [r[seed] for r in regrets]

    def at(index, curve=curve):
      if index is None:
        return None
      return dict(points[index], regret=curve[index])

    out.append(
        dict(
            thompson_regret=float(thompson_regret),
            stays_below=at(first_index_staying_below(curve, thompson_regret)),
            smoothed=at(
                first_smoothed_crossing(
                    curve, thompson_regret, SMOOTHING_CHECKPOINTS
                )
            ),
            first_dip=at(first_index_below(curve, thompson_regret)),
            history=[dict(p, regret=r) for p, r in zip(points, curve)],
        )
    )
  return out


def bandit_headline(result) -> str:
  agent = result["across_seeds"]
  text = (
      f"agent regret {mean_sd(_regret_stats(agent))} over "
      f"{len(result['per_seed'])} seeds ("
      + ", ".join(f"{final_regret(s):.2f}" for s in result["per_seed"])
      + "); "
      + ", ".join(
          f"{k} {final_regret(v):.3f}"
          for k, v in result["regret"].items()
          if k != "agent"
      )
  )
  if "ratio_to_bayes_optimal" in agent:
    text += (
        f"; agent / Bayes-optimal {mean_sd(agent['ratio_to_bayes_optimal'])}"
    )
  fitted = agent.get("fitted_rescorla_wagner")
  if fitted:
    text += "; fitted alpha " + ", ".join(
        f"v={k}: {mean_sd(v['alpha'])}" for k, v in fitted.items()
    )
  return text


def _regret_stats(stats) -> dict[str, Any]:
  return next(v for k, v in stats.items() if k.startswith("regret_at_trial"))


# ---- figures ----------------------------------------------------------------

_BASELINE_STYLE = {
    "agent": ("meta-RL agent (frozen)", "k", "-"),
    "thompson": ("Thompson sampling", "tab:blue", "--"),
    "thompson_discounted": ("discounted Thompson", "tab:cyan", "--"),
    "ucb1": ("UCB1", "tab:orange", "--"),
    "best_fixed_rw": ("best fixed Rescorla-Wagner", "tab:green", "--"),
    "bayes_optimal": ("Bayes-optimal (exact)", "tab:red", ":"),
    "bayes_optimal_same_episodes": (
        "Bayes-optimal table (these episodes)",
        "tab:pink",
        ":",
    ),
    "chance": ("chance", "0.6", ":"),
}


def bandit_figure(writer, task, result, summary) -> None:
  del summary
  fig, ax = writer.subplots(figsize=(5, 4))
  plot_seeds(
      ax,
      [s["curve"] for s in result["per_seed"]],
      label=_BASELINE_STYLE["agent"][0],
  )
  for name, curve in result["curves"].items():
    if name == "chance":
      continue
    label, color, style = _BASELINE_STYLE.get(name, (name, None, "-"))
    mean = np.asarray(curve["mean"])
    ax.plot(np.arange(1, mean.size + 1), mean, style, color=color, label=label)
  ax.set_xlabel("trial")
  ax.set_ylabel("cumulative expected regret")
  ax.set_title(f"{task}: regret (held-out)")
  ax.legend(fontsize=6)
  writer.save(fig, f"regret_{task}.png")


def ablation_figure(writer, task, result, summary) -> None:
  fig, ax = writer.subplots(figsize=(5, 4))
  plot_seeds(
      ax,
      [s["curve"] for s in result["per_seed"]],
      label="agent without reward input",
  )
  full = summary["tasks"].get("bandit_independent", {}).get("per_seed")
  if full:
    plot_seeds(
        ax,
        [s["curve"] for s in full],
        color="b",
        label="agent with reward input",
    )
  chance = np.asarray(result["curves"]["chance"]["mean"])
  ax.plot(
      np.arange(1, chance.size + 1), chance, ":", color="0.5", label="chance"
  )
  ax.set_xlabel("trial")
  ax.set_ylabel("cumulative expected regret")
  ax.set_title("reward-input ablation (independent bandits)")
  ax.legend(fontsize=7)
  writer.save(fig, f"{task}_reward_input.png")


def dependent_bandits_figure(writer, summary) -> None:
  """easy < medium < hard (and uniform dependent arms) in one panel."""
  tasks = summary["tasks"]
  dependent = [
      t
      for t in (
          "bandit_easy",
          "bandit_medium",
          "bandit_hard",
          "bandit_dependent_uniform",
      )
      if "per_seed" in tasks.get(t, {})
  ]
  if not dependent:
    return
  fig, ax = writer.subplots(figsize=(5, 4))
  for i, task in enumerate(dependent):
    color = f"C{i}"
    plot_seeds(
        ax,
        [s["curve"] for s in tasks[task]["per_seed"]],
        color=color,
        label=f"agent, {task}",
    )
    thompson = np.asarray(tasks[task]["curves"]["thompson"]["mean"])
    ax.plot(
        np.arange(1, thompson.size + 1),
        thompson,
        ":",
        color=color,
        label=f"Thompson, {task}",
    )
  ax.set_xlabel("trial")
  ax.set_ylabel("cumulative expected regret")
  ax.set_title("dependent bandits: easy < medium < hard")
  ax.legend(fontsize=6)
  writer.save(fig, "regret_dependent_bandits.png")


def restless_figure(writer, task, result, summary) -> None:
  bandit_figure(writer, task, result, summary)
  fitted = [s.get("fitted_rescorla_wagner") for s in result["per_seed"]]
  if not all(fitted):
    return
  names = list(fitted[0])
  fig, ax = writer.subplots(figsize=(4, 4))
  values = np.array([[f[k]["alpha"] for k in names] for f in fitted])
  x = np.arange(len(names))
  ax.bar(x, values.mean(0), color="tab:purple", alpha=0.6)
  for row in values:
    ax.plot(x, row, "o", color="k", ms=3)
  ax.set_xticks(x, [f"volatility {k}" for k in names])
  ax.set_ylabel("fitted Rescorla-Wagner learning rate")
  ax.set_title(f"restless bandit ({len(values)} seeds: dots; bar: mean)")
  writer.save(fig, "restless_fitted_learning_rates.png")
