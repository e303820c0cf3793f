"""DeepMind Control Suite tasks in MJX, through MuJoCo Playground (optional).

Task names `dmc:<Name>`, `<Name>` any DM Control Suite environment of MuJoCo
Playground (the PyPI package `playground`, module `mujoco_playground`; Zakka
et al. 2025, "MuJoCo Playground"), e.g. `dmc:CartpoleSwingup`,
`dmc:ReacherEasy`. `ControlSuiteTask` wraps Playground's own environment
(`mujoco_playground.dm_control_suite.load`) into the functional contract of
`environments/base.py`; nothing of Playground is copied:

* inner state: the leaves of Playground's `State` (MJX physics data,
  observation, reward, done, metrics, info), less MJX's zero-size arrays,
  which orbax cannot checkpoint; `_reset` / `_step` call Playground's `reset`
  / `step` on the State rebuilt from them, so the task jits, vmaps and
  checkpoints like every other functional task.
* observation: Playground's state observation, a float32 vector.
* action: a float32 `BoundedArray` [nu] with the actuators' control ranges
  (every Control Suite actuator is limited to [-1, 1]). Actions are clipped
  to those bounds before Playground sees them, so its control-cost terms see
  the action that moved the physics.
* episode ends: Playground's `done` (set when the physics produces NaN) is a
  termination (discount 0); the time limit is a truncation (discount 1)
  after `episode_length / action_repeat` steps of the agent, with
  `episode_length` and `action_repeat` from Playground's default config of the
  task (1000 and 1 for every Control Suite task in playground 0.2.0). As in
  Playground's training wrapper, one agent step repeats the action
  `action_repeat` times and sums the rewards. Auto-reset after LAST is the
  base class's.
* physics: MJX's JAX implementation (`impl="jax"`), which runs on CPU, GPU and
  TPU. Playground's configs default to `"warp"` (NVIDIA GPUs only); pass
  `env_kwargs={"impl": "warp"}` to use it there.

Without the package, building a `dmc:` task raises `UserError` saying how to
install it; the import happens only then, never for other tasks.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs

from agents.runtime.errors import UserError
from environments import base

PREFIX = "dmc:"
PACKAGE = "playground"
VERSION = "0.2.0"  # the version tested; see requirements-control.lock
INSTALL = (
    f"install it with `make control` (or `pip install {PACKAGE}=={VERSION} "
    "-c requirements.lock`)"
)
IMPLS = ("jax", "warp")


def suite():
  """Playground's DM Control Suite module (UserError when not installed)."""
  try:
    # pylint: disable-next=g-import-not-at-top
    from mujoco_playground import dm_control_suite
  except ImportError as e:
    raise UserError(
        f"DeepMind Control Suite tasks ({PREFIX}<Name>) need the optional "
        f"package {PACKAGE!r} (MuJoCo Playground), which is not installed "
        f"({e}); {INSTALL}"
    ) from None
  return dm_control_suite


def known_tasks() -> tuple[str, ...]:
  """Names of Playground's DM Control Suite tasks (needs the package)."""
  return tuple(suite().ALL_ENVS)


@functools.lru_cache(maxsize=None)
def _load(task: str, impl: str) -> Any:
  """Playground's environment (one per task and physics implementation)."""
  dm_control_suite = suite()
  if task not in dm_control_suite.ALL_ENVS:
    raise UserError(
        f"unknown DeepMind Control Suite task {task!r}; known tasks: "
        + ", ".join(PREFIX + name for name in dm_control_suite.ALL_ENVS)
    )
  return dm_control_suite.load(task, config_overrides={"impl": impl})


@dataclasses.dataclass(frozen=True)
class _Layout:
  """The shapes of Playground's state for one task (traced, not compiled)."""

  treedef: Any  # of Playground's State
  leaves: tuple[jax.ShapeDtypeStruct, ...]
  observation_shape: tuple[int, ...]

  def pack(self, state) -> tuple[jax.Array, ...]:
    """The state's non-empty leaves: what our EnvState carries. (MJX data
    holds zero-size arrays, e.g. `act` of a model without activations, and
    orbax refuses to checkpoint those.)"""
    return tuple(x for x in jax.tree.leaves(state) if x.size)

  def unpack(self, packed: tuple[jax.Array, ...]) -> Any:
    """Playground's State again (zeros for the empty leaves)."""
    stored = iter(packed)
    leaves = [
        next(stored) if leaf.size else jnp.zeros(leaf.shape, leaf.dtype)
        for leaf in self.leaves
    ]
    return jax.tree.unflatten(self.treedef, leaves)


@functools.lru_cache(maxsize=None)
def _layout(task: str, impl: str) -> _Layout:
  abstract = jax.eval_shape(_load(task, impl).reset, jax.random.PRNGKey(0))
  obs = abstract.obs
  if not hasattr(obs, "shape") or len(obs.shape) != 1:
    raise UserError(
        f"{PREFIX}{task}: expected a vector observation from Playground, got "
        f"{obs}"
    )
  leaves, treedef = jax.tree.flatten(abstract)
  return _Layout(treedef, tuple(leaves), tuple(obs.shape))


@dataclasses.dataclass(frozen=True)
class ControlSuiteTask(base.Environment):
  """A Playground DM Control Suite task as a functional environment.

  Attributes:
    task: Playground's name, e.g. "CartpoleSwingup".
    impl: MJX implementation, "jax" (any backend) or "warp" (NVIDIA GPUs).
    action_repeat: physics control steps per agent step; 0 = Playground's
      default config of the task.
    max_episode_steps: agent steps before truncation; 0 = Playground's
      `episode_length / action_repeat` (rounded up).
  """

  task: str = "CartpoleSwingup"
  impl: str = "jax"
  action_repeat: int = 0

  def __post_init__(self):
    if self.impl not in IMPLS:
      raise UserError(
          f"unknown MJX implementation impl={self.impl!r} for {self.name}; "
          f"allowed: {', '.join(IMPLS)}"
      )
    if self.action_repeat < 0 or self.max_episode_steps < 0:
      raise UserError(
          f"{self.name}: action_repeat and max_episode_steps must be >= 0 "
          "(0 = Playground's default config)"
      )
    config = self.playground_env()._config  # pylint: disable=protected-access
    if self.action_repeat == 0:
      object.__setattr__(self, "action_repeat", int(config.action_repeat))
    if self.max_episode_steps == 0:
      steps = math.ceil(int(config.episode_length) / self.action_repeat)
      object.__setattr__(self, "max_episode_steps", steps)

  @property
  def name(self) -> str:
    return PREFIX + self.task

  def playground_env(self) -> Any:
    """The wrapped `mujoco_playground` environment."""
    return _load(self.task, self.impl)

  # ---- the contract -------------------------------------------------------
  def _reset(self, key):
    state = self.playground_env().reset(key)
    return self._layout().pack(state), self._observation(state)

  def _step(self, inner, action, key):
    del key  # Playground keeps its own key in the state's info.
    low, high = self._bounds()
    action = jnp.clip(jnp.asarray(action, jnp.float32), low, high)
    env = self.playground_env()

    def repeat(state, _):
      state = env.step(state, action)
      return state, state.reward

    state = self._layout().unpack(inner)
    state, rewards = jax.lax.scan(repeat, state, None, self.action_repeat)
    reward = jnp.sum(rewards)
    terminated = state.done > 0.5
    packed = self._layout().pack(state)
    return packed, self._observation(state), reward, terminated

  def _layout(self) -> _Layout:
    return _layout(self.task, self.impl)

  @staticmethod
  def _observation(state) -> jax.Array:
    return jnp.asarray(state.obs, jnp.float32)

  def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
    model = self.playground_env().mj_model
    limited = np.asarray(model.actuator_ctrllimited, bool)
    ranges = np.asarray(model.actuator_ctrlrange, np.float32)
    # Unlimited actuators (none in the Control Suite) get Playground's
    # policy range [-1, 1].
    low = np.where(limited, ranges[:, 0], -1.0).astype(np.float32)
    high = np.where(limited, ranges[:, 1], 1.0).astype(np.float32)
    return low, high

  def observation_spec(self):
    shape = self._layout().observation_shape
    return specs.Array(shape, jnp.float32, name="observation")

  def action_spec(self):
    low, high = self._bounds()
    return specs.BoundedArray(
        low.shape, jnp.float32, minimum=low, maximum=high, name="action"
    )


def make(task: str, **kwargs: Any) -> ControlSuiteTask:
  """`ControlSuiteTask(task, **kwargs)`; UserError for an unknown task or
  parameter, or when `playground` is not installed."""
  suite()  # the install message first, whatever the parameters
  try:
    return ControlSuiteTask(task=task, **kwargs)
  except TypeError as e:
    raise UserError(f"bad parameters for task {PREFIX}{task}: {e}") from None
