"""Task names used in configs (`config.env`), mapped to constructors.

Functional tasks (jit/vmap-traceable) run in the compiled loop. Names of the form
`bsuite:<bsuite_id>` (e.g. `bsuite:catch/0`) load a stateful bsuite
`dm_env.Environment`, which the host loop drives. Names of the form
`dmc:<Name>` (e.g. `dmc:CartpoleSwingup`) are functional DeepMind Control
Suite tasks in MJX, through the optional package `playground`
(environments/playground.py, imported only for them).

To add a task: write `environments/<task>.py` with a subclass of
`base.Environment`, then add one line to `FUNCTIONAL_TASKS`.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from environments import base
from environments import cartpole
from environments import catch
from environments import dopamine_tasks
from environments import gridworld
from environments import memory_chain
from environments import meta_rl_tasks
from environments import mountain_car_continuous
from environments import pendulum
from environments import reversal_task

FUNCTIONAL_TASKS: dict[str, Callable[..., base.Environment]] = {
    "catch": catch.Catch,
    "cartpole": cartpole.CartPole,
    "pendulum": pendulum.Pendulum,
    "mountain_car_continuous": mountain_car_continuous.MountainCarContinuous,
    # Dopamine tasks (Dabney et al. 2020) and the two-peaked gap task.
    "variable_magnitude": dopamine_tasks.VariableMagnitude,
    "variable_probability": dopamine_tasks.VariableProbability,
    "jump_the_gap": dopamine_tasks.JumpTheGap,
    # Meta-RL (Wang et al. 2018): one episode = one task instance.
    "bandit_independent": functools.partial(
        meta_rl_tasks.TwoArmedBandit, arm_distribution="independent"
    ),
    "bandit_dependent_uniform": functools.partial(
        meta_rl_tasks.TwoArmedBandit, arm_distribution="dependent_uniform"
    ),
    "bandit_easy": functools.partial(
        meta_rl_tasks.TwoArmedBandit, arm_distribution="easy"
    ),
    "bandit_medium": functools.partial(
        meta_rl_tasks.TwoArmedBandit, arm_distribution="medium"
    ),
    "bandit_hard": functools.partial(
        meta_rl_tasks.TwoArmedBandit, arm_distribution="hard"
    ),
    "restless_bandit": meta_rl_tasks.RestlessBandit,
    "harlow": meta_rl_tasks.Harlow,
    "harlow_test": functools.partial(meta_rl_tasks.Harlow, split="test"),
    "two_step": meta_rl_tasks.TwoStep,
    # Bromberg-Martin et al. 2010's reversal task (Wang 2018 Fig. 4).
    "reversal": reversal_task.ReversalTask,
    # Grid worlds from ASCII layouts (Sutton & Barto ch. 8; Mattar & Daw 2018).
    "gridworld": gridworld.GridWorld,  # any maze: env_kwargs.layout
    "dyna_maze": functools.partial(gridworld.GridWorld, layout="dyna_maze"),
    "blocking_maze": functools.partial(
        gridworld.GridWorld,
        layout="blocking_maze",
        switch_layout="blocking_maze_after",
        switch_step=1000,
    ),
    "shortcut_maze": functools.partial(
        gridworld.GridWorld,
        layout="shortcut_maze",
        switch_layout="shortcut_maze_after",
        switch_step=3000,
    ),
    "open_field": functools.partial(gridworld.GridWorld, layout="open_field"),
    "linear_track": functools.partial(
        gridworld.GridWorld, layout="linear_track"
    ),
    # bsuite's memory_len (one context bit remembered over memory_length).
    "memory_len": functools.partial(memory_chain.MemoryChain, num_bits=1),
}

HOST_PREFIXES = ("bsuite:",)
CONTROL_SUITE_PREFIX = "dmc:"  # environments/playground.py


class UnknownTaskError(ValueError):
  pass


def is_host_task(name: str) -> bool:
  return name.startswith(HOST_PREFIXES)


def known_tasks() -> list[str]:
  return sorted(FUNCTIONAL_TASKS) + [
      "bsuite:<id> (e.g. bsuite:catch/0)",
      "dmc:<Name> (e.g. dmc:CartpoleSwingup; needs playground)",
  ]


def make(name: str, **kwargs: Any) -> base.Environment:
  """Builds a functional task by name, with static parameters as kwargs.

  Raises:
    UnknownTaskError: an unknown name or bad parameters.
    agents.runtime.errors.UserError: a `dmc:` task without `playground`
      installed, or one that Playground does not know.
  """
  if name.startswith(CONTROL_SUITE_PREFIX):
    # pylint: disable-next=g-import-not-at-top
    from environments import playground

    return playground.make(name[len(CONTROL_SUITE_PREFIX) :], **kwargs)
  if name not in FUNCTIONAL_TASKS:
    raise UnknownTaskError(
        f"unknown task {name!r}; known tasks: {', '.join(known_tasks())}"
    )
  try:
    return FUNCTIONAL_TASKS[name](**kwargs)
  except (TypeError, ValueError) as e:
    raise UnknownTaskError(f"bad parameters for task {name!r}: {e}") from None


def make_host(name: str, seed: int = 0):
  """Builds a stateful `dm_env.Environment` (bsuite) for the host loop.

  Ids whose bsuite setting fixes a seed keep it; the others are seeded with
  `seed`, so the same seed gives the same environment in every process."""
  if not name.startswith("bsuite:"):
    raise UnknownTaskError(f"unknown host task {name!r}; expected bsuite:<id>")
  bsuite_id = name[len("bsuite:") :]
  try:
    import bsuite  # pylint: disable=g-import-not-at-top
    from bsuite import sweep  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise UnknownTaskError(
        "bsuite tasks need the bsuite package (pip install bsuite)"
    ) from None
  if bsuite_id not in sweep.SETTINGS:
    raise UnknownTaskError(
        f"unknown bsuite id {bsuite_id!r}; e.g. {', '.join(sweep.TESTING[:6])}"
    )
  kwargs = dict(sweep.SETTINGS[bsuite_id])
  if "seed" in kwargs and kwargs["seed"] is None:
    # Many ids (catch/*, cartpole/*, mountain_car/*, ...) leave the seed to
    # the caller: None would draw a fresh RandomState from the OS in every
    # process, so no host-loop run would repeat. The run's seed fixes it.
    kwargs["seed"] = int(seed)
  experiment_name = bsuite_id.split(sweep.SEPARATOR)[0]
  return bsuite.load(experiment_name, kwargs)
