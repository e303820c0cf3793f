"""The replay package: every kind of buffer behind one interface (`base`).

  uniform      `uniform.UniformReplay`: FIFO ring, uniform sampling (Mnih et
               al. 2015).
  sequence     `sequence.SequenceReplay`: windows of consecutive steps with
               the recurrent state at their start (R2D2, Kapturowski et al.
               2019), for recurrent learners only (agents/r2d2.py).

Pick a kind with `--config.replay=<kind>` (configs/dqn.py holds each kind's
keys and defaults); `make_replay(config, specs, gradient_steps=...)` builds it,
after `validate(config)` has refused bad values with a UserError (it runs
while the agent is built, before the workdir is touched). To add a kind: see
`base`'s docstring.
"""

from __future__ import annotations

from typing import Any

from agents.replay import sequence
from agents.replay.base import ReplayBuffer, ReplaySample
from agents.replay.uniform import UniformReplay
from agents.runtime.errors import UserError

__all__ = ["KINDS", "ReplayBuffer", "ReplaySample", "UniformReplay",
           "make_replay", "validate"]

KINDS = ("uniform", "sequence")


def _in_unit_interval(config, key: str) -> None:
  if key in config:
    value = config[key]
    if (isinstance(value, bool) or not isinstance(value, (int, float))
        or not 0.0 <= value <= 1.0):
      raise UserError(f"config.{key}={value!r} is not allowed: it must be a "
                      "number in [0, 1]")


def validate(config) -> None:
  """Raises UserError naming the first bad replay setting and what is allowed.

  Checks the kind and, whatever the kind, the range of every replay key the
  config holds (so a typo'd value fails even when that kind is not chosen).
  """
  kind = config.get("replay", "uniform")
  if kind not in KINDS:
    raise UserError(f"config.replay={kind!r} is not allowed: it must be one "
                    f"of {', '.join(KINDS)}")
  if "batch_size" in config and "replay_capacity" in config:
    if config.replay_capacity < config.batch_size:
      raise UserError(f"config.replay_capacity={config.replay_capacity} is "
                      f"smaller than config.batch_size={config.batch_size}; "
                      "the batch must fit in the buffer")


def make_replay(config, specs: Any = None, *, gradient_steps: int = 0,
                num_envs: int | None = None) -> ReplayBuffer:
  """The buffer `config.replay` names (default uniform), validated.

  Args:
    config: a DQN-family config (configs/dqn.py): `replay`, `replay_capacity`
      and the chosen kind's keys.
    specs: the task's `types.EnvSpecs` (kinds that model the task need it).
    gradient_steps: the run's total gradient steps, computed once at build
      time by the learner (prioritized replay anneals beta over them).
    num_envs: given by sequence learners only: the environments per device
      whose time-major chunks they add (sequence replay keeps each one's
      stream); a feed-forward learner asking for sequence replay is refused.
  """
  del specs, gradient_steps
  validate(config)
  kind = config.get("replay", "uniform")
  if kind == "uniform":
    return UniformReplay(int(config.replay_capacity))
  if kind == "sequence":
    return sequence.from_config(config, num_envs)
  raise AssertionError(kind)  # validate() refused it
