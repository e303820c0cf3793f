"""The Wang et al. 2018 (and 2016) meta-RL reproduction: train, evaluate,
measure, plot. `scripts/reproduce_wang2018.py` is its command line.

Every experiment is one entry of `EXPERIMENTS` (an `Experiment`: the
configs/meta_a2c.py preset it trains, how its frozen agent is evaluated, its
headline, its figures); the runner, the summary, the printed table and the
command line's --tasks all read that registry, so a new experiment is one
entry there. For every experiment the runner trains `config.num_seeds`
training seeds (default 4, vmapped in one compiled loop) through
`agents.runtime.train.train` into DIR/<name>/ (an interrupted run resumes),
then freezes each seed's weights and evaluates it with
`agents.analysis.meta_rl` on the same held-out episodes (a key training never
used; Harlow on held-out objects):

  bandit_*          cumulative regret per trial vs Thompson sampling, UCB1,
                    the best fixed Rescorla-Wagner learner (grid below) and
                    Bayes-optimal: for independent arms the exact dynamic
                    program's prior-averaged regret (1.7482 at trial 100),
                    and the same policy played on the evaluation episodes
                    (`bayes_optimal_same_episodes`, paired with the agent)
  restless_bandit   regret vs the same baselines (+ discounted Thompson) and
                    the Rescorla-Wagner learning rate fitted to the agent's
                    choices at each volatility
  harlow            accuracy by trial index on held-out objects
  two_step          stay probabilities, the logistic regression
                    stay ~ reward * transition (interaction z, log10 p), and
                    the Daw et al. 2011 hybrid model's fitted parameters
                    (model-based weight w, ...)
  ablation          bandit_independent trained without the reward input
  units             Fig. 2 on the bandit_independent agents: each LSTM unit
                    regressed on past actions, rewards and their product,
                    and the history decoded from the population
                    (agents/analysis/wang2018_units.py)
  reversal          Fig. 4: the reversal task (environments/reversal_task.py)
                    and the agent's TD error at target onset for the target
                    not seen since a reversal, vs a TD(0) learner
                    (agents/analysis/wang2018_rpe.py)
  two_step_rpe      Fig. 5's RPEs on the two_step agents: TD errors at the
                    second-stage onset and the outcome vs model-based and
                    model-free values (agents/analysis/wang2018_rpe.py)

Summary layout (DIR/summary.json), per experiment `tasks.<name>`:
`seeds` (the training seeds), `per_seed` (one dict of numbers per seed, in
that order), `across_seeds` (the same keys; every number becomes
{mean, sd, values} with the sample sd over seeds, every curve {mean, sd}),
plus numbers that do not depend on the agent (the baselines' `regret`,
`curves`) and `training` (speed).

The bandit rows (evaluation, baselines, time to Thompson, figures) live in
agents/analysis/wang2018_bandits.py; the aggregation over seeds in
agents/analysis/seed_stats.py. `time_to_thompson` measures when each
independent-bandit seed gets to
Thompson sampling's regret, from its per-segment checkpoints: the first
checkpoint AFTER WHICH every later checkpoint stays at or below Thompson
(`stays_below`, the headline), the first checkpoint whose trailing mean over
`SMOOTHING_CHECKPOINTS` checkpoints is at or below it (`smoothed`), and the
first single dip (`first_dip`, which the next checkpoint can undo).
`run_reproduction` writes DIR/summary.json after every experiment (nothing is
lost to an interruption) and the figures DIR/*.png (each seed thin, the mean
over seeds thick), and returns the summary; `benchmark_table` is the printed
table, with the whole invocation's wall time against `BUDGET_MINUTES`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Callable

import jax
import numpy as np

from agents import types
from agents.analysis import meta_rl
from agents.analysis import wang2018_bandits as bandits
from agents.analysis import wang2018_rpe
from agents.analysis import wang2018_units
from agents.analysis.figures import FigureWriter
from agents.analysis.figures import plot_seeds
from agents.analysis.seed_stats import across_seeds
from agents.analysis.seed_stats import mean_sd
from agents.analysis.seed_stats import split_seeds
from agents.runtime import anakin
from agents.runtime import benchmarks
from agents.runtime import train as train_lib
from agents.runtime import workdir as workdir_lib
from agents.runtime.errors import UserError
from environments import registry

EVAL_SEED = 2_000_003  # evaluation episodes' key (training never uses it)
QUICK_EVAL_EPISODES = 40  # at most this many with `quick`
# The hybrid model's fit: episodes (of the held-out ones) and starting points.
HYBRID_FIT_EPISODES = 300
HYBRID_FIT_STARTS = 3
NUM_SEEDS = 4  # training seeds per experiment by default
QUICK_NUM_SEEDS = 2  # with `quick`
BUDGET_MINUTES = 45  # the whole default invocation on 2 CPU cores


@dataclasses.dataclass
class Context:
  """What an experiment's `evaluate` gets: the trained run and its seeds."""

  name: str  # the experiment
  config: Any  # the trained config (ml_collections)
  agent: Any
  loop: Any
  params: list[Any]  # each training seed's frozen parameters (host copies)
  seeds: list[int]
  num_episodes: int  # held-out evaluation episodes
  key: Any  # the evaluation key (the same episodes for every seed)
  task_dir: str  # DIR/<trained run>
  quick: bool
  log: Callable[[str], None] = print


@dataclasses.dataclass(frozen=True)
class Experiment:
  """One row of the reproduction.

  Attributes:
    preset: the configs/meta_a2c.py preset it trains.
    evaluate: Context -> dict with "per_seed" (one dict of numbers per
      training seed, `Context.seeds` order) and any numbers shared by the
      seeds (baselines); the runner adds "across_seeds".
    headline: result -> one line (progress line and the table's column).
    figures: (FigureWriter, name, result, summary) -> None; draws its PNGs.
    configure: config -> None, changes to the preset (the ablation's).
    trained_by: another experiment whose trained run (DIR/<that>/) this one
      analyses instead of training its own; None trains DIR/<name>/.
  """

  preset: str
  evaluate: Callable[[Context], dict[str, Any]]
  headline: Callable[[dict[str, Any]], str]
  figures: Callable[..., None] | None = None
  configure: Callable[[Any], None] | None = None
  trained_by: str | None = None


def check_arguments(
    workdir: str, tasks, num_episodes: int, num_seeds: int = NUM_SEEDS
) -> None:
  """Raises UserError for a bad workdir, task, episode or seed count, before
  anything is written."""
  workdir_lib.ensure_writable_dir(workdir)
  if not tasks:
    raise UserError(f"no tasks given; allowed: {', '.join(TASKS)}")
  unknown = [t for t in tasks if t not in EXPERIMENTS]
  if unknown:
    raise UserError(
        f"unknown task(s) {', '.join(unknown)}; allowed: {', '.join(TASKS)}"
    )
  if num_episodes < 1:
    raise UserError(
        f"--eval_episodes must be >= 1 (the held-out episodes "
        f"every number is averaged over), got {num_episodes}"
    )
  if not 1 <= num_seeds <= 64:
    raise UserError(
        f"--num_seeds must be in [1, 64] (training seeds per task, vmapped), "
        f"got {num_seeds}"
    )


def task_config(
    task: str,
    quick: bool,
    seed: int | None = None,
    num_seeds: int | None = None,
):
  """configs/meta_a2c.py's preset for `task` (quick: tiny, for smoke tests),
  with `num_seeds` training seeds from `seed` on."""
  from configs import meta_a2c  # pylint: disable=g-import-not-at-top

  experiment = EXPERIMENTS[task]
  c = meta_a2c.get_config(experiment.preset)
  if seed is not None:
    c.seed = seed
  c.num_seeds = num_seeds or (QUICK_NUM_SEEDS if quick else NUM_SEEDS)
  if experiment.configure is not None:
    experiment.configure(c)
  if quick:
    c.num_envs = 8
    c.lstm_size = 16
    c.total_env_steps = 8 * c.rollout_length * 6
    c.log_every_env_steps = 8 * c.rollout_length * 2
    c.eval_episodes = 4
  return c


def train_task(task, config, workdir, log):
  """Trains (or resumes) DIR/<task>; returns (agent, loop, every seed's
  params, the training numbers of the summary)."""
  result = train_lib.train(
      config, os.path.join(workdir, task), log=lambda m: log(f"  {m}")
  )
  agent, loop = train_lib.build_loop(config)
  params = split_seeds(
      anakin.fetch_replicated(result.state.agent_state.params),
      config.num_seeds,
  )
  training = {
      k: result.summary[k]
      for k in (
          "env_steps",
          "wall_seconds",
          "compile_seconds",
          "env_steps_per_second",
          "num_envs",
          "seeds",
      )
  }
  return agent, loop, params, training


# ---- Harlow and two-step ----------------------------------------------------


def evaluate_harlow(ctx: Context) -> dict[str, Any]:
  kwargs = ctx.config.env_kwargs.to_dict()
  test_env = registry.make("harlow_test", **kwargs)
  train_env = registry.make("harlow", **kwargs)
  per_seed = []
  for params in ctx.params:
    accuracy = meta_rl.harlow_accuracy_by_trial(
        meta_rl.rollout(ctx.agent, test_env, params, ctx.key, ctx.num_episodes),
        test_env.num_trials,
    )
    train_accuracy = meta_rl.harlow_accuracy_by_trial(
        meta_rl.rollout(
            ctx.agent, train_env, params, ctx.key, ctx.num_episodes
        ),
        test_env.num_trials,
    )
    per_seed.append(
        dict(
            accuracy_by_trial_test_objects=[float(a) for a in accuracy],
            accuracy_by_trial_train_objects=[float(a) for a in train_accuracy],
            trial_1_accuracy=float(accuracy[0]),
            accuracy_from_trial_2=float(np.mean(accuracy[1:])),
            at_least_95_from_trial_2=bool(np.mean(accuracy[1:]) >= 0.95),
        )
    )
  return dict(per_seed=per_seed)


def harlow_headline(result) -> str:
  s = result["across_seeds"]
  return (
      f"trial 1 {mean_sd(s['trial_1_accuracy'])}, trials 2+ "
      f"{mean_sd(s['accuracy_from_trial_2'])} (seeds: "
      + ", ".join(f"{v:.3f}" for v in s["accuracy_from_trial_2"]["values"])
      + f"; >= 0.95 on {s['at_least_95_from_trial_2']['count']} of "
      f"{s['at_least_95_from_trial_2']['of']})"
  )


def evaluate_two_step(ctx: Context) -> dict[str, Any]:
  per_seed = []
  env = ctx.loop.env
  for params in ctx.params:
    record = meta_rl.rollout(ctx.agent, env, params, ctx.key, ctx.num_episodes)
    stays = meta_rl.two_step_stays(record)
    numbers = dict(stay_probabilities=meta_rl.stay_probabilities(**stays))
    try:
      regression = meta_rl.stay_regression(**stays)
      numbers["regression"] = regression
      numbers["interaction_z"] = regression["z"]["reward_x_transition"]
      numbers["interaction_log10_p"] = regression["log10_p_values"][
          "reward_x_transition"
      ]
    except Exception as e:  # pylint: disable=broad-except
      numbers["regression_failed"] = f"{type(e).__name__}: {e}"
    trials = meta_rl.two_step_trials(record)
    fit = meta_rl.fit_hybrid_model(
        jax.tree.map(lambda x: x[:HYBRID_FIT_EPISODES], trials),
        env.common_probability,
        jax.random.PRNGKey(EVAL_SEED),
        num_starts=2 if ctx.quick else HYBRID_FIT_STARTS,
    )
    numbers["hybrid_model"] = fit
    per_seed.append(numbers)
  return dict(per_seed=per_seed)


def two_step_headline(result) -> str:
  s = result["across_seeds"]
  text = "stay " + ", ".join(
      f"{k} {v['mean']:.2f}" for k, v in s["stay_probabilities"].items()
  )
  if "interaction_z" in s:
    text += (
        f"; interaction z {mean_sd(s['interaction_z'])}, log10 p "
        + ", ".join(f"{v:.1f}" for v in s["interaction_log10_p"]["values"])
    )
  hybrid = s.get("hybrid_model", {})
  if "w" in hybrid:
    text += f"; hybrid model w {mean_sd(hybrid['w'])}"
  return text


# ---- the paper's Figs. 2, 4 and 5 (RPEs): logic in wang2018_units / _rpe ----


def evaluate_units(ctx: Context) -> dict[str, Any]:
  specs = types.EnvSpecs(
      ctx.loop.env.observation_spec(), ctx.loop.env.action_spec()
  )
  untrained = [  # the control: each seed's network at initialisation
      ctx.agent.actor_params(ctx.agent.init(jax.random.PRNGKey(s), specs))
      for s in ctx.seeds
  ]
  return wang2018_units.units_experiment(
      ctx.agent,
      ctx.loop.env,
      ctx.params,
      ctx.key,
      ctx.num_episodes,
      untrained_params_per_seed=untrained,
  )


def evaluate_reversal(ctx: Context) -> dict[str, Any]:
  return wang2018_rpe.reversal_experiment(
      ctx.agent,
      ctx.loop.env,
      ctx.params,
      ctx.key,
      ctx.num_episodes,
      ctx.config.gamma,
  )


def evaluate_two_step_rpe(ctx: Context) -> dict[str, Any]:
  return wang2018_rpe.two_step_rpe_experiment(
      ctx.agent,
      ctx.loop.env,
      ctx.params,
      ctx.key,
      ctx.num_episodes,
      ctx.config.gamma,
  )


# ---- the runner ----------------------------------------------------------------


def run_reproduction(
    workdir: str,
    quick: bool,
    tasks,
    num_episodes: int,
    *,
    log: Callable[[str], None] = print,
    seed: int | None = None,
    num_seeds: int | None = None,
) -> dict[str, Any]:
  """Trains and evaluates `tasks` into `workdir`; returns the summary.

  Raises UserError (before anything is written) for a bad workdir, task,
  episode or seed count. Tasks of a previous invocation with the same
  `quick` stay in summary.json.
  """
  if num_seeds is None:
    num_seeds = QUICK_NUM_SEEDS if quick else NUM_SEEDS
  check_arguments(workdir, tasks, num_episodes, num_seeds)
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
  trained_runs = {}  # run -> (config, agent, loop, params, training)
  for task in tasks:
    t0 = time.perf_counter()
    experiment = EXPERIMENTS[task]
    trained = experiment.trained_by or task
    if trained not in trained_runs:  # one run serves every row analysing it
      log(f"[wang2018] {task}: training {num_seeds} seed(s) in {trained}/")
      config = task_config(trained, quick, seed, num_seeds)
      trained_runs[trained] = (config,) + train_task(
          trained, config, workdir, log
      )
    config, agent, loop, params, training = trained_runs[trained]
    ctx = Context(
        name=task,
        config=config,
        agent=agent,
        loop=loop,
        params=params,
        seeds=list(training["seeds"]),
        num_episodes=num_episodes,
        key=jax.random.PRNGKey(EVAL_SEED),
        task_dir=os.path.join(workdir, trained),
        quick=quick,
        log=log,
    )
    result = {"training": training, "seeds": ctx.seeds}
    if experiment.trained_by:
      result["trained_by"] = experiment.trained_by
    result.update(workdir_lib.jsonable(experiment.evaluate(ctx)))
    result["across_seeds"] = across_seeds(result["per_seed"])
    result["task_wall_seconds"] = time.perf_counter() - t0
    summary["tasks"][task] = result
    # After every task: nothing is lost to an interruption.
    workdir_lib.write_json_atomic(summary_path, summary)
    log(f"[wang2018] {task}: {experiment.headline(result)}")
  summary["figures"] = write_figures(workdir, summary)
  summary["total_wall_seconds"] = time.perf_counter() - start
  summary["sum_of_task_wall_seconds"] = sum(
      t["task_wall_seconds"] for t in summary["tasks"].values()
  )
  summary["budget_minutes"] = BUDGET_MINUTES
  summary["platform"] = jax.default_backend()
  workdir_lib.write_json_atomic(summary_path, summary)
  log(benchmark_table(summary))
  log(
      f"[wang2018] done in {summary['total_wall_seconds']:.0f}s; "
      f"summary in {summary_path}"
  )
  return summary


def benchmark_table(summary) -> str:
  """The printed table: per task its training env steps, training time,
  env steps/s (all seeds), whole task time and headline; then when each
  independent-bandit seed got to Thompson's regret, and this invocation's
  wall time against the budget."""
  rows = [("task", "seeds", "env steps", "training s", "env steps/s", "task s")]
  headlines = []
  for task, result in summary["tasks"].items():
    t = result.get("training", {})
    rows.append(
        (
            task,
            str(len(result.get("seeds", []))),
            f"{t.get('env_steps', 0):,}",
            f"{t.get('wall_seconds', float('nan')):.1f}",
            benchmarks.rate(t.get("env_steps_per_second", 0.0)),
            f"{result.get('task_wall_seconds', float('nan')):.1f}",
        )
    )
    if task in EXPERIMENTS and "across_seeds" in result:
      try:
        headlines.append(f"{task}: {EXPERIMENTS[task].headline(result)}")
      except (KeyError, StopIteration, TypeError):  # an older summary's task
        pass
  lines = [
      "[wang2018] benchmark (" + summary["platform"] + ")",
      benchmarks.format_table(rows),
      *headlines,
  ]
  for i, numbers in enumerate(
      summary["tasks"].get("bandit_independent", {}).get("per_seed", [])
  ):
    ttt = numbers.get("time_to_thompson")
    if ttt is None:
      continue
    reached = ttt.get("stays_below")
    lines.append(
        f"independent bandits, seed {summary['tasks']['bandit_independent']['seeds'][i]}, "
        f"to Thompson's regret ({ttt['thompson_regret']:.2f}) and staying "
        "below: "
        + (
            f"{reached['wall_seconds']:.1f} s of training, "
            f"{reached['env_steps']:,} env steps (regret "
            f"{reached['regret']:.2f})"
            if reached
            else "not reached"
        )
    )
  total = summary["total_wall_seconds"]
  lines.append(
      f"whole invocation: {total:.0f} s ({total / 60:.1f} min; budget for the "
      f"default run: <= {summary.get('budget_minutes', BUDGET_MINUTES)} min "
      "on 2 CPU cores)"
  )
  return "\n".join(lines)


# ---- figures ----------------------------------------------------------------


def harlow_figure(writer, task, result, summary) -> None:
  del summary
  fig, ax = writer.subplots(figsize=(5, 4))
  for split, color in (("test", "k"), ("train", "tab:blue")):
    curves = [
        s[f"accuracy_by_trial_{split}_objects"] for s in result["per_seed"]
    ]
    plot_seeds(ax, curves, color=color, label=f"{split} objects", style="-")
  ax.axhline(0.5, color="0.6", ls=":")
  ax.set_ylim(0, 1.05)
  ax.set_xlabel("trial within episode")
  ax.set_ylabel("fraction correct")
  ax.set_title("Harlow task (frozen weights)")
  ax.legend(fontsize=7)
  writer.save(fig, f"{task}_accuracy_by_trial.png")


def two_step_figure(writer, task, result, summary) -> None:
  del summary
  fig, ax = writer.subplots(figsize=(4.5, 4))
  x = np.arange(2)
  per_seed = result["per_seed"]
  for offset, transition, color in (
      (-0.2, "common", "tab:blue"),
      (0.2, "rare", "tab:red"),
  ):
    values = np.array(
        [
            [
                s["stay_probabilities"][f"{o}_{transition}"]
                for o in ("rewarded", "unrewarded")
            ]
            for s in per_seed
        ]
    )
    ax.bar(
        x + offset,
        values.mean(0),
        0.4,
        label=transition,
        color=color,
        alpha=0.6,
    )
    for row in values:
      ax.plot(x + offset, row, "o", color="k", ms=3)
  ax.set_xticks(x, ["rewarded", "unrewarded"])
  ax.set_ylim(0, 1)
  ax.set_ylabel("stay probability")
  s = result["across_seeds"]
  title = f"two-step task ({len(per_seed)} seeds)"
  if "interaction_z" in s:
    title += f"\ninteraction z {s['interaction_z']['mean']:.1f}"
  if "w" in s.get("hybrid_model", {}):
    title += f", hybrid w {s['hybrid_model']['w']['mean']:.2f}"
  ax.set_title(title, fontsize=9)
  ax.legend()
  writer.save(fig, f"{task}_stay_probabilities.png")


def write_figures(workdir, summary) -> list[str]:
  """Every experiment's panels as PNGs in `workdir`; returns their names."""
  writer = FigureWriter(workdir)
  for task, result in summary["tasks"].items():
    experiment = EXPERIMENTS.get(task)
    if experiment is None or experiment.figures is None:
      continue
    if "per_seed" not in result:  # an older summary's task
      continue
    experiment.figures(writer, task, result, summary)
  bandits.dependent_bandits_figure(writer, summary)
  return writer.written


def headline(task, result) -> str:
  """The one progress line printed after a task."""
  return EXPERIMENTS[task].headline(result)


ABLATION_ENV_STEPS = 5_000_000  # per seed: it learns no within-episode RL


def _no_reward_input(config) -> None:
  config.use_reward_input = False
  # Without the reward input nothing within an episode can be learned (the
  # arms are symmetric a priori, so every policy it can learn scores
  # chance); longer training would only add wall time to the reproduction.
  config.total_env_steps = ABLATION_ENV_STEPS


def _keep_every_checkpoint(config) -> None:
  # The time-to-Thompson benchmark reads back every segment's checkpoint.
  config.keep_checkpoints = 1000


# ---- the registry: one entry per experiment (the order of the default run) ---

EXPERIMENTS: dict[str, Experiment] = {
    "bandit_independent": Experiment(
        preset="bandit_independent",
        evaluate=bandits.bandit_evaluator(exact_bayes=True, thompson=True),
        headline=bandits.bandit_headline,
        figures=bandits.bandit_figure,
        configure=_keep_every_checkpoint,
    ),
    **{
        task: Experiment(
            preset=task,
            evaluate=bandits.bandit_evaluator(),
            headline=bandits.bandit_headline,
        )
        for task in (
            "bandit_dependent_uniform",
            "bandit_easy",
            "bandit_medium",
            "bandit_hard",
        )
    },
    "restless_bandit": Experiment(
        preset="restless_bandit",
        evaluate=bandits.bandit_evaluator(stationary=False),
        headline=bandits.bandit_headline,
        figures=bandits.restless_figure,
    ),
    "harlow": Experiment(
        preset="harlow",
        evaluate=evaluate_harlow,
        headline=harlow_headline,
        figures=harlow_figure,
    ),
    "two_step": Experiment(
        preset="two_step",
        evaluate=evaluate_two_step,
        headline=two_step_headline,
        figures=two_step_figure,
    ),
    "ablation": Experiment(
        preset="bandit_independent",
        evaluate=bandits.bandit_evaluator(
            exact_bayes=True, baselines=("thompson", "bayes_optimal", "chance")
        ),
        headline=bandits.bandit_headline,
        figures=bandits.ablation_figure,
        configure=_no_reward_input,
    ),
    "units": Experiment(
        preset="bandit_independent",
        evaluate=evaluate_units,
        headline=wang2018_units.headline,
        figures=wang2018_units.figure,
        trained_by="bandit_independent",
    ),
    "reversal": Experiment(
        preset="reversal",
        evaluate=evaluate_reversal,
        headline=wang2018_rpe.reversal_headline,
        figures=wang2018_rpe.reversal_figure,
    ),
    "two_step_rpe": Experiment(
        preset="two_step",
        evaluate=evaluate_two_step_rpe,
        headline=wang2018_rpe.two_step_rpe_headline,
        figures=wang2018_rpe.two_step_rpe_figure,
        trained_by="two_step",
    ),
}
TASKS = tuple(EXPERIMENTS)
BANDITS = tuple(t for t in TASKS if t.startswith("bandit_"))
