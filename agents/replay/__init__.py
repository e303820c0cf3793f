"""The replay package: every kind of buffer behind one interface (`base`).

  uniform      `uniform.UniformReplay`: FIFO ring, uniform sampling (Mnih et
               al. 2015).
  prioritized  `prioritized.PrioritizedReplay`: proportional prioritized
               replay on a sum-tree (Schaul et al. 2016); keys
               priority_exponent (alpha), importance_exponent (beta_0),
               priority_eps.

Pick a kind with `--config.replay=<kind>` (configs/dqn.py holds each kind's
keys and defaults); `make_replay(config, specs, gradient_steps=...)` builds it,
after `validate(config)` has refused bad values with a UserError (it runs
while the agent is built, before the workdir is touched). To add a kind: see
`base`'s docstring.
"""

from __future__ import annotations

from typing import Any

from agents.replay.base import NO_INDEX, ReplayBuffer, ReplaySample
from agents.replay.prioritized import PrioritizedReplay
from agents.replay.uniform import UniformReplay
from agents.runtime.errors import UserError

__all__ = ["KINDS", "NO_INDEX", "PrioritizedReplay", "ReplayBuffer",
           "ReplaySample", "UniformReplay", "make_replay", "validate"]

KINDS = ("uniform", "prioritized")


def _positive_number(value) -> bool:
  return (not isinstance(value, bool) and isinstance(value, (int, float))
          and value > 0)


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
  _in_unit_interval(config, "priority_exponent")
  _in_unit_interval(config, "importance_exponent")
  if "priority_eps" in config and not _positive_number(config.priority_eps):
    raise UserError(f"config.priority_eps={config.priority_eps!r} is not "
                    "allowed: it must be a number > 0")
  if "batch_size" in config and "replay_capacity" in config:
    if config.replay_capacity < config.batch_size:
      raise UserError(f"config.replay_capacity={config.replay_capacity} is "
                      f"smaller than config.batch_size={config.batch_size}; "
                      "the batch must fit in the buffer")


def make_replay(config, specs: Any = None, *, gradient_steps: int = 0
                ) -> ReplayBuffer:
  """The buffer `config.replay` names (default uniform), validated.

  Args:
    config: a DQN-family config (configs/dqn.py): `replay`, `replay_capacity`
      and the chosen kind's keys.
    specs: the task's `types.EnvSpecs` (kinds that model the task need it).
    gradient_steps: the run's total gradient steps, computed once at build
      time by the learner (prioritized replay anneals beta over them).
  """
  del specs
  validate(config)
  kind = config.get("replay", "uniform")
  if kind == "uniform":
    return UniformReplay(int(config.replay_capacity))
  if kind == "prioritized":
    return PrioritizedReplay(
        capacity=int(config.replay_capacity),
        priority_exponent=float(config.priority_exponent),
        importance_exponent=float(config.importance_exponent),
        anneal_steps=int(gradient_steps),
        priority_eps=float(config.priority_eps))
  raise AssertionError(kind)  # validate() refused it
