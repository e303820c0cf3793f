"""Planning with a model: Sutton & Barto (2018) chapter 8 reproduced.

Compiled runs of the tabular agents (`agents/q_learning.py`, `dyna_q.py`,
`dyna_q_plus.py`, `prioritized_sweeping.py`) on the grid worlds
(`environments/gridworld.py`), vmapped over runs, and the three experiments of
the chapter that `scripts/reproduce_replay.py` prints beside their anchors:

* `dyna_maze` (Example 8.1, Fig. 8.2): steps per episode over 50 episodes for
  n = 0, 5, 50 planning steps, 30 runs, alpha 0.1, epsilon 0.1, gamma 0.95.
  Anchor: the optimal path (14 steps) is reached after about 25 episodes with
  n = 0, about 5 with n = 5 and about 3 with n = 50 (the book: "to reach
  (epsilon-)optimal performance"). Measured as the first episode whose mean
  over runs is within 20% of the epsilon-greedy plateau (the mean of the
  n = 50 curve's last 10 episodes, about 17 steps: epsilon = 0.1 itself keeps
  the mean above 14, so 14 is never met exactly).
* `blocking_maze`, `shortcut_maze` (Examples 8.2-8.3, Figs. 8.4-8.5):
  cumulative reward over time steps, Dyna-Q against Dyna-Q+. The book gives
  no settings for these figures; the ones used here are in `CHANGING`.
  Anchors: Dyna-Q+ collects more reward after the change; in the shortcut
  maze Dyna-Q+ finds the shortcut and Dyna-Q never does.
* `sweeping` (Example 8.4): backups until the greedy policy is optimal,
  prioritized sweeping against Dyna-Q (both at most n = 5 backups per step),
  on the Dyna maze at 1-3x its grid resolution (Peng & Williams' sequence of
  mazes). Anchor: prioritized sweeping needs 5-10x fewer.

Every experiment returns a dict: `rows` (quantity, measured, anchor,
reproduced) for the printed table, `per_seed` numbers, `figures` (PNG paths).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from agents import registry as agent_registry
from agents import types
from agents.lib import tabular
from environments import base
from environments import gridworld
from environments import registry as env_registry

# ---- running an agent --------------------------------------------------------


def build(config: ml_collections.ConfigDict):
  """(agent, env) from a tabular agent's config."""
  env = env_registry.make(config.env, **config.env_kwargs.to_dict())
  specs = types.EnvSpecs(env.observation_spec(), env.action_spec())
  # One learn call per time step (`make_run`); the tabular agents have no
  # schedule over learn calls.
  run = types.RunInfo(
      learn_calls=config.total_env_steps, env_steps_per_learn_call=1
  )
  agent = agent_registry.get_builder(config.agent)(config, specs, run)
  return agent, env


def make_run(
    agent: types.Agent,
    env: base.Environment,
    num_steps: int,
    probe: Callable[[Any], Any] | None = None,
    probe_every: int = 1,
):
  """A jitted `keys [R] -> (agent states, per-step outputs)` over R runs.

  Every iteration is one agent time step: act, step the task, learn from the
  transition (a [2, 1] trajectory, the contract's `learn`); after a LAST step
  the task's next (FIRST) step is taken at once, so no iteration is spent on
  the action-less reset. Outputs per step: `reward`, `last` (the episode
  ended on this step); with `probe`, `probe(agent_state)` every `probe_every`
  steps (outputs [R, num_steps // probe_every, ...]).
  """
  if num_steps % probe_every:
    raise ValueError("num_steps must be a multiple of probe_every")

  def one_step(carry, _):
    agent_state, env_state, timestep, key = carry
    key, act_key, learn_key = jax.random.split(key, 3)
    action, _, extras = agent.act(
        agent.actor_params(agent_state), (), timestep, act_key, evaluation=False
    )
    env_state, next_timestep = env.step(env_state, action)
    trajectory = types.Trajectory(
        timestep=jax.tree.map(
            lambda a, b: jnp.stack([a, b])[:, None], timestep, next_timestep
        ),
        action=action[None, None],
        extras=extras,
        actor_state=(),
    )
    agent_state, _ = agent.learn(agent_state, trajectory, learn_key)
    reset_state, reset_timestep = env.step(env_state, action)
    last = next_timestep.last()
    env_state, timestep = jax.tree.map(
        lambda r, s: jnp.where(last, r, s),
        (reset_state, reset_timestep),
        (env_state, next_timestep),
    )
    outputs = {"reward": next_timestep.reward, "last": last}
    return (agent_state, env_state, timestep, key), outputs

  def chunk(carry, _):
    carry, outputs = jax.lax.scan(one_step, carry, None, length=probe_every)
    if probe is not None:
      outputs["probe"] = probe(carry[0])
    return carry, outputs

  def run_one(key):
    init_key, env_key, key = jax.random.split(key, 3)
    agent_state = agent.init(init_key, None)
    env_state, timestep = env.reset(env_key)
    carry = (agent_state, env_state, timestep, key)
    carry, outputs = jax.lax.scan(
        chunk, carry, None, length=num_steps // probe_every
    )
    flat = {k: outputs[k].reshape(-1) for k in ("reward", "last")}
    if probe is not None:
      flat["probe"] = outputs["probe"]
    return carry[0], flat

  return jax.jit(jax.vmap(run_one))


def run_keys(seed: int, num_runs: int) -> chex.Array:
  return jax.random.split(jax.random.PRNGKey(seed), num_runs)


def greedy_path_length(
    q: chex.Array, env: gridworld.GridWorld, t, max_steps: int
) -> chex.Array:
  """Steps the greedy policy (argmax, ties to the first action) takes from
  the first start to a goal with the walls in force at time step t;
  max_steps + 1 if it does not get there within max_steps."""
  start = int(np.flatnonzero(env.maze.starts.reshape(-1))[0])

  def cond(carry):
    _, steps, done = carry
    return (~done) & (steps <= max_steps)

  def body(carry):
    position, steps, _ = carry
    inner = gridworld.GridState(position=position, t=jnp.asarray(t, jnp.int32))
    inner, _, _, terminated = env._step(  # pylint: disable=protected-access
        inner, jnp.argmax(q[position]), None
    )
    return inner.position, steps + 1, terminated

  _, steps, done = jax.lax.while_loop(
      cond,
      body,
      (
          jnp.asarray(start, jnp.int32),
          jnp.zeros((), jnp.int32),
          jnp.zeros((), bool),
      ),
  )
  return jnp.where(done, steps, max_steps + 1)


def episode_lengths(last: np.ndarray, num_episodes: int) -> np.ndarray:
  """[R, steps] episode-end flags -> [R, num_episodes] lengths (NaN when a
  run finished fewer episodes)."""
  out = np.full((last.shape[0], num_episodes), np.nan)
  for r, flags in enumerate(np.asarray(last)):
    ends = np.flatnonzero(flags) + 1
    lengths = np.diff(np.concatenate([[0], ends]))[:num_episodes]
    out[r, : len(lengths)] = lengths
  return out


def _config(agent: str, maze: str, **overrides) -> ml_collections.ConfigDict:
  config = importlib.import_module(f"configs.{agent}").get_config(maze)
  for key, value in overrides.items():
    config[key] = value
  return config


def _row(quantity: str, measured: str, anchor: str, reproduced) -> dict:
  return {
      "quantity": quantity,
      "measured": measured,
      "anchor": anchor,
      "reproduced": None if reproduced is None else bool(reproduced),
  }


def _mean_sd(x) -> str:
  x = np.asarray(x, np.float64)
  return f"{np.nanmean(x):.1f} +- {np.nanstd(x):.1f}"


def _figure(path: str, draw: Callable[[Any], None]) -> str:
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, ax = plt.subplots(figsize=(6, 4))
  draw(ax)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


# ---- Example 8.1: the Dyna maze ----------------------------------------------

DYNA_ANCHORS = {0: 25, 5: 5, 50: 3}  # episodes to the optimal path (Fig. 8.2)
OPTIMAL_DYNA_PATH = 14


def first_episode_below(mean_lengths: np.ndarray, threshold: float) -> int:
  """1-based first episode whose mean length is <= threshold (len + 1 if
  none)."""
  below = np.flatnonzero(np.asarray(mean_lengths) <= threshold)
  return int(below[0]) + 1 if below.size else len(mean_lengths) + 1


@dataclasses.dataclass(frozen=True)
class Scale:
  """How big an experiment is (the full reproduction, or a quick smoke run)."""

  runs: int = 30
  episodes: int = 50
  # Agent steps per run for n = 0, 5, 50: enough for 50 episodes.
  dyna_steps: tuple[int, ...] = (10_000, 5_000, 5_000)
  changing_runs: int = 20
  sweeping_runs: int = 10
  resolutions: tuple[int, ...] = (1, 2, 3)
  sweeping_steps: tuple[int, ...] = (3_000, 10_000, 20_000)


QUICK = Scale(
    runs=3,
    episodes=10,
    dyna_steps=(1_000,) * 3,
    changing_runs=2,
    sweeping_runs=2,
    resolutions=(1,),
    sweeping_steps=(1_000,),
)


def dyna_maze(workdir: str, scale: Scale = Scale(), seed: int = 0) -> dict:
  """Fig. 8.2: steps per episode for n = 0, 5, 50."""
  curves, per_seed, rows = {}, {}, []
  for n, steps in zip((0, 5, 50), scale.dyna_steps):
    if n == 0:
      config = _config("q_learning", "dyna_maze")
    else:
      config = _config("dyna_q", "dyna_maze", planning_steps=n)
    agent, env = build(config)
    _, outputs = make_run(agent, env, steps)(run_keys(seed, scale.runs))
    lengths = episode_lengths(outputs["last"], scale.episodes)
    curves[n] = np.nanmean(lengths, axis=0)
    unfinished = int(np.isnan(lengths).any(axis=1).sum())
    per_seed[f"n{n}"] = {
        "steps_per_episode": lengths.tolist(),
        "runs_short_of_all_episodes": unfinished,
    }
  # The epsilon-greedy level of the optimal path: the settled n = 50 curve.
  plateau = float(np.nanmean(curves[50][-10:]))
  threshold = 1.2 * plateau
  for n, curve in curves.items():
    episode = first_episode_below(curve, threshold)
    unfinished = per_seed[f"n{n}"]["runs_short_of_all_episodes"]
    anchor = DYNA_ANCHORS[n]
    rows.append(
        _row(
            f"n={n}: first episode with mean steps <= {threshold:.1f} (1.2x the "
            f"epsilon-greedy plateau {plateau:.1f}; optimal path 14)",
            f"{episode} (episode 2: {curve[1]:.0f}, last: {curve[-1]:.1f} steps)"
            + (f"; {unfinished} runs short" if unfinished else ""),
            f"about {anchor}",
            abs(episode - anchor) <= max(2, 0.4 * anchor),
        )
    )
  order = [int(r["measured"].split()[0]) for r in rows]
  rows.append(
      _row(
          "episodes to the optimal path decrease with n",
          " > ".join(map(str, order)),
          "25 > 5 > 3",
          order[0] > order[1] >= order[2],
      )
  )

  def draw(ax):
    for n, curve in curves.items():
      ax.plot(
          np.arange(2, len(curve) + 1), curve[1:], label=f"{n} planning steps"
      )
    ax.axhline(OPTIMAL_DYNA_PATH, color="gray", ls=":", label="optimal (14)")
    ax.set(
        xlabel="episode",
        ylabel="steps per episode",
        ylim=(0, 800),
        title=f"Dyna maze (Fig. 8.2), mean of {scale.runs} runs",
    )

  figure = _figure(os.path.join(workdir, "dyna_maze.png"), draw)
  return {
      "rows": rows,
      "per_seed": per_seed,
      "mean_steps_per_episode": {
          f"n{n}": c.tolist() for n, c in curves.items()
      },
      "figures": [figure],
  }


# ---- Examples 8.2-8.3: the blocking and shortcut mazes -----------------------

# The book gives no settings for Figs. 8.4-8.5; these are ours. alpha = 1 is
# exact for a deterministic maze.
CHANGING = {
    "blocking_maze": dict(
        steps=3_000, planning_steps=10, kappa=1e-4, learning_rate=1.0
    ),
    "shortcut_maze": dict(
        steps=6_000, planning_steps=50, kappa=1e-3, learning_rate=1.0
    ),
}


def changing_maze(
    maze: str, workdir: str, scale: Scale = Scale(), seed: int = 0
) -> dict:
  """Figs. 8.4/8.5: cumulative reward of Dyna-Q and Dyna-Q+."""
  settings = CHANGING[maze]
  steps = settings["steps"]
  cumulative, lengths_after, per_seed = {}, {}, {}
  switch = None
  for agent_name in ("dyna_q", "dyna_q_plus"):
    overrides = dict(
        planning_steps=settings["planning_steps"],
        learning_rate=settings["learning_rate"],
        total_env_steps=steps,
    )
    if agent_name == "dyna_q_plus":
      overrides["kappa"] = settings["kappa"]
    agent, env = build(_config(agent_name, maze, **overrides))
    switch = env.switch_step
    _, outputs = make_run(agent, env, steps)(
        run_keys(seed, scale.changing_runs)
    )
    cumulative[agent_name] = np.cumsum(np.asarray(outputs["reward"]), axis=1)
    # Mean episode length over the last 1000 steps: the path in use.
    last = np.asarray(outputs["last"])[:, -1000:]
    lengths_after[agent_name] = 1000.0 / np.maximum(last.sum(axis=1), 1)
    per_seed[agent_name] = {
        "cumulative_reward_end": cumulative[agent_name][:, -1].tolist(),
        "reward_after_switch": (
            cumulative[agent_name][:, -1]
            - cumulative[agent_name][:, switch - 1]
        ).tolist(),
        "mean_episode_length_last_1000": lengths_after[agent_name].tolist(),
    }
  q, qp = (
      np.asarray(per_seed[a]["reward_after_switch"])
      for a in ("dyna_q", "dyna_q_plus")
  )
  rows = [
      _row(
          f"{maze}: cumulative reward at step {steps}, Dyna-Q | Dyna-Q+",
          f"{_mean_sd(cumulative['dyna_q'][:, -1])} | "
          f"{_mean_sd(cumulative['dyna_q_plus'][:, -1])}",
          "Dyna-Q+ above Dyna-Q",
          cumulative["dyna_q_plus"][:, -1].mean()
          > cumulative["dyna_q"][:, -1].mean(),
      ),
      _row(
          f"{maze}: reward after the change (step {switch}), Dyna-Q | "
          "Dyna-Q+",
          f"{_mean_sd(q)} | {_mean_sd(qp)}",
          "Dyna-Q+ adapts faster",
          qp.mean() > q.mean(),
      ),
  ]
  if maze == "shortcut_maze":
    short = gridworld.shortest_path_length(env.switched_maze)
    old = gridworld.shortest_path_length(env.maze)
    found = {
        a: float(np.mean(lengths_after[a] < (short + old) / 2))
        for a in lengths_after
    }
    rows.append(
        _row(
            f"shortcut found (mean episode length in the last 1000 steps closer "
            f"to {short} than {old}), Dyna-Q | Dyna-Q+",
            f"{found['dyna_q']:.0%} | {found['dyna_q_plus']:.0%} of runs",
            "Dyna-Q never; Dyna-Q+ does",
            found["dyna_q"] < 0.5 and found["dyna_q_plus"] >= 0.5,
        )
    )

  def draw(ax):
    for a, label in (("dyna_q", "Dyna-Q"), ("dyna_q_plus", "Dyna-Q+")):
      ax.plot(np.arange(1, steps + 1), cumulative[a].mean(axis=0), label=label)
    ax.axvline(switch, color="gray", ls=":", label="maze changes")
    ax.set(
        xlabel="time steps",
        ylabel="cumulative reward",
        title=f"{maze} (Fig. 8.{4 if maze == 'blocking_maze' else 5}), "
        f"mean of {scale.changing_runs} runs",
    )

  figure = _figure(os.path.join(workdir, f"{maze}.png"), draw)
  return {
      "rows": rows,
      "per_seed": per_seed,
      "settings": settings,
      "figures": [figure],
  }


# ---- Example 8.4: prioritized sweeping ---------------------------------------

SWEEPING_ALPHA = 1.0  # deterministic mazes: each backup is exact at alpha 1


def scaled_layout(text: str, k: int) -> str:
  """The maze at k times its grid resolution: each cell a k x k block, the
  start and goal one cell (the block's top-left / top-right corner)."""
  rows = []
  for row in text.strip("\n").split("\n"):
    for i in range(k):
      cells = []
      for c in row.strip():
        block = ["#" if c == "#" else "."] * k
        if i == 0 and c == "S":
          block[0] = "S"
        elif i == 0 and c == "G":
          block[-1] = "G"
        cells.extend(block)
      rows.append("".join(cells))
  return "\n".join(rows)


def backups_to_optimal(
    agent_name: str,
    k: int,
    steps: int,
    runs: int,
    seed: int,
    probe_every: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
  """Per run: Q backups (real + simulated) done, and real steps taken, when
  the greedy path from the start first has the shortest length (checked
  every `probe_every` steps; NaN: not within `steps`)."""
  layout = scaled_layout(gridworld.read_layout_text("dyna_maze"), k)
  overrides = dict(planning_steps=5, learning_rate=SWEEPING_ALPHA)
  config = _config(agent_name, "dyna_maze", **overrides)
  config.env = "gridworld"
  config.env_kwargs.layout = layout
  agent, env = build(config)
  optimal = gridworld.shortest_path_length(env.maze)

  def probe(state: tabular.TabularState):
    length = greedy_path_length(state.q, env, 0, 2 * optimal)
    return {"optimal": length == optimal, "backups": state.num_backups}

  _, outputs = make_run(agent, env, steps, probe, probe_every)(
      run_keys(seed, runs)
  )
  optimal_now = np.asarray(outputs["probe"]["optimal"])
  backups = np.asarray(outputs["probe"]["backups"], np.float64)
  result, real_steps = np.full(runs, np.nan), np.full(runs, np.nan)
  for r in range(runs):
    hits = np.flatnonzero(optimal_now[r])
    if hits.size:
      result[r] = backups[r, hits[0]]
      real_steps[r] = (hits[0] + 1) * probe_every
  return result, real_steps


def sweeping(workdir: str, scale: Scale = Scale(), seed: int = 0) -> dict:
  """Example 8.4: backups until optimal, prioritized sweeping vs Dyna-Q."""
  rows, per_seed, sizes, medians = (
      [],
      {},
      [],
      {"dyna_q": [], "prioritized_sweeping": []},
  )
  for k, steps in zip(scale.resolutions, scale.sweeping_steps):
    both = {
        a: backups_to_optimal(a, k, steps, scale.sweeping_runs, seed)
        for a in medians
    }
    counts = {a: b[0] for a, b in both.items()}
    real = {a: b[1] for a, b in both.items()}
    states = int(
        (
            ~gridworld.parse_layout(
                scaled_layout(gridworld.read_layout_text("dyna_maze"), k)
            ).walls
        ).sum()
    )
    sizes.append(states)
    for a in medians:
      medians[a].append(float(np.nanmedian(counts[a])))
    per_seed[f"resolution{k}"] = {a: c.tolist() for a, c in counts.items()}
    per_seed[f"resolution{k}_real_steps"] = {
        a: c.tolist() for a, c in real.items()
    }
    ratio = medians["dyna_q"][-1] / medians["prioritized_sweeping"][-1]
    failed = {a: int(np.isnan(c).sum()) for a, c in counts.items()}
    rows.append(
        _row(
            f"{states} states: backups to the optimal path (median), Dyna-Q | "
            "prioritized sweeping (ratio)",
            f"{medians['dyna_q'][-1]:.0f} | "
            f"{medians['prioritized_sweeping'][-1]:.0f} ({ratio:.1f}x)"
            + (
                f"; runs not optimal by step {steps}: {failed}"
                if any(failed.values())
                else ""
            ),
            "5-10x fewer with prioritized sweeping",
            4 <= ratio <= 12,
        )
    )
    rows.append(
        _row(
            f"{states} states: real steps to the optimal path (median), Dyna-Q | "
            "prioritized sweeping",
            f"{np.nanmedian(real['dyna_q']):.0f} | "
            f"{np.nanmedian(real['prioritized_sweeping']):.0f}",
            "- (no anchor: what bounds both, exploration)",
            None,
        )
    )

  def draw(ax):
    for a, label in (
        ("dyna_q", "Dyna-Q"),
        ("prioritized_sweeping", "prioritized sweeping"),
    ):
      ax.plot(sizes, medians[a], "o-", label=label)
    ax.set(
        xlabel="gridworld size (#states)",
        yscale="log",
        ylabel="backups until optimal solution",
        title="Example 8.4 (median over runs)",
    )

  figure = _figure(os.path.join(workdir, "prioritized_sweeping.png"), draw)
  return {
      "rows": rows,
      "per_seed": per_seed,
      "states": sizes,
      "median_backups": medians,
      "figures": [figure],
  }
