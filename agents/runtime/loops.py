"""THE loop interface: what every training loop gives the driver (train.py).

A loop runs one agent on one task. The driver knows only this interface, so
resume, checkpoints, metrics.csv, progress lines, evaluation and summary.json
are written once for every loop:

  init(seeds) -> state
      The initial loop state of the seeds (a pytree of arrays: the whole
      state is checkpointed).
  abstract_state(num_seeds) -> state
      Its shapes, dtypes (and shardings), for checkpoint restore.
  prepare(state) -> bool
      Compiles what the loop compiles ahead of its segments (the driver times
      it as compile time); a no-op where compiling happens on first use.
      True when it compiled (so the start line can say "compiled in").
  run_segment(state) -> (state, metrics)
      `env_steps_per_segment` env steps per seed; metrics: a dict of per-seed
      numpy arrays [num_seeds], with at least `episode_return_mean` and
      `all_finite` (0 where a non-finite loss appeared).
  evaluate(state, key, episodes) -> (returns [seed, E], done [seed, E])
      Greedy episodes with frozen weights.
  agent_states(state) -> agent states [seed, ...] on the host (numpy).
  env_steps_per_segment, num_devices   (properties)
  close()
      Stops and joins whatever the loop started (threads, queues); the driver
      always calls it, also after an error or an interrupt.

Implementations, chosen by `config.loop` (`LOOPS`):
  anakin   agents/runtime/anakin.py: compiled rollout + learn, vmapped seeds,
           shard_mapped devices (the default for functional tasks)
  host     agents/runtime/host_loop.py: one stateful dm_env (bsuite:...)
  hogwild  agents/runtime/hogwild.py: K Python threads, each an actor-learner
           with its own environments, applying gradients to shared state
  sebulba  agents/runtime/sebulba.py: K actor threads, a bounded queue of
           trajectories, one learner

Each loop module has `build(config, task, make_agent) -> loop`: it works out
its geometry (env steps and learn calls per segment), builds the agent with
`make_agent(run_info(...))` (types.RunInfo, computed here once) and then
itself. To add a loop: write that module and add a line to `LOOPS`.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from typing import Any, Callable, Protocol

import numpy as np

from agents import types
from agents.runtime.errors import UserError

LOOPS = {
    "anakin": "agents.runtime.anakin",
    "host": "agents.runtime.host_loop",
    "hogwild": "agents.runtime.hogwild",
    "sebulba": "agents.runtime.sebulba",
}


class Loop(Protocol):
  """The interface above (a structural type: loops do not subclass it)."""

  env_steps_per_segment: int
  num_devices: int

  def init(self, seeds: list[int]) -> Any:
    ...

  def abstract_state(self, num_seeds: int) -> Any:
    ...

  def prepare(self, state: Any) -> bool:
    ...

  def run_segment(self, state: Any) -> tuple[Any, dict[str, np.ndarray]]:
    ...

  def evaluate(
      self, state: Any, key: Any, episodes: int
  ) -> tuple[np.ndarray, np.ndarray]:
    ...

  def agent_states(self, state: Any) -> Any:
    ...

  def close(self) -> None:
    ...


@dataclasses.dataclass(frozen=True)
class Task:
  """The task a loop runs: a functional environment (`env`) or a stateful
  dm_env factory (`make_host`, one fresh environment per call)."""

  name: str
  specs: types.EnvSpecs
  env: Any = None  # environments.base.Environment
  make_host: Callable[[], Any] | None = None  # -> dm_env.Environment


def num_segments(config, env_steps_per_segment: int) -> int:
  return math.ceil(config.total_env_steps / env_steps_per_segment)


def iterations_per_segment(config, env_steps_per_iteration: int) -> int:
  """Iterations between log lines: `log_every_env_steps` rounded down to a
  whole number of iterations (at least one)."""
  return max(1, config.log_every_env_steps // env_steps_per_iteration)


def run_info(
    config,
    *,
    env_steps_per_segment: int,
    learn_calls_per_segment: int,
    num_devices: int = 1,
) -> types.RunInfo:
  """The agent's `types.RunInfo` for a loop of this geometry: the driver
  runs `num_segments` whole segments, each with `learn_calls_per_segment`
  learn calls per seed."""
  return types.RunInfo(
      learn_calls=(
          num_segments(config, env_steps_per_segment) * learn_calls_per_segment
      ),
      env_steps_per_learn_call=env_steps_per_segment // learn_calls_per_segment,
      num_devices=num_devices,
  )


def make_agent_for(
    make_agent, config, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  """`make_agent(config, specs, run)`, a config it cannot use -> UserError."""
  try:
    return make_agent(config, specs, run)
  except (KeyError, AttributeError) as e:
    raise UserError(
        f"config for agent {config.agent!r} lacks a key it " f"needs: {e}"
    ) from None
  except ValueError as e:
    raise UserError(str(e)) from None


def require_split_update(agent: types.Agent, loop: str) -> None:
  """UserError unless the agent exposes `gradients` and `apply`."""
  if agent.gradients is None or agent.apply is None:
    raise UserError(
        f"config.loop={loop!r} needs an agent that computes gradients "
        f"separately from applying them (types.Agent.gradients/apply); agent "
        f"{agent.name!r} does not: use config.loop='anakin' or 'sebulba'"
    )


def get(name: str):
  """The module of loop `name` (UserError for an unknown one)."""
  if name not in LOOPS:
    raise UserError(
        f"unknown config.loop={name!r}; allowed: " f"{', '.join(sorted(LOOPS))}"
    )
  return importlib.import_module(LOOPS[name])
