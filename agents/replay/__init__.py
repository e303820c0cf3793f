"""The replay package: every kind of buffer behind one interface (`base`).

  uniform      `uniform.UniformReplay`: FIFO ring, uniform sampling (Mnih et
               al. 2015).
  prioritized  `prioritized.PrioritizedReplay`: proportional prioritized
               replay on a sum-tree (Schaul et al. 2016); keys
               priority_exponent (alpha), importance_exponent (beta_0),
               priority_eps.
  imagination  `imagination.ImaginationReplay`: Dyna (Sutton 1991), a learned
               model (`models`: tabular counts or a small neural network)
               mixes imagined transitions into every batch; keys
               imagination_ratio, imagination_model, imagination_replay
               (the kind of the real items' buffer), model_hidden_sizes,
               model_learning_rate. For continuous actions, imagination
               rollouts (Gu et al. 2016) under the learner's policy, with
               imagination_model linear_gaussian (`linear_gaussian`),
               neural or ensemble (`models.EnsembleModel`: keys
               model_ensemble_size, model_disagreement_bound); keys
               model_train_steps, imagination_horizon, imagination_capacity,
               imagination_stop_env_steps,
               model_time_steps, model_memory_steps,
               model_prior_strength, exploration_sigma (the rollouts'
               noise).
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

from agents.lib import continuous
from agents.replay import imagination
from agents.replay import linear_gaussian
from agents.replay import models
from agents.replay import sequence
from agents.replay.base import NO_INDEX, ReplayBuffer, ReplaySample
from agents.replay.imagination import ImaginationReplay
from agents.replay.prioritized import PrioritizedReplay
from agents.replay.uniform import UniformReplay
from agents.runtime.errors import UserError

__all__ = [
    "ImaginationReplay",
    "KINDS",
    "NO_INDEX",
    "PrioritizedReplay",
    "ReplayBuffer",
    "ReplaySample",
    "UniformReplay",
    "make_replay",
    "validate",
]

KINDS = ("uniform", "prioritized", "imagination", "sequence")
IMAGINATION_MODELS = ("ensemble", "linear_gaussian", "neural", "tabular")
# the kinds that can hold imagination's real items
IMAGINATION_INNER_KINDS = ("uniform", "prioritized")


def _positive_number(value) -> bool:
  return (
      not isinstance(value, bool)
      and isinstance(value, (int, float))
      and value > 0
  )


def _positive_integer(config, key: str) -> None:
  if key in config:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise UserError(
          f"config.{key}={value!r} is not allowed: it must be an integer >= 1"
      )


def _in_unit_interval(config, key: str) -> None:
  if key in config:
    value = config[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.0 <= value <= 1.0
    ):
      raise UserError(
          f"config.{key}={value!r} is not allowed: it must be a "
          "number in [0, 1]"
      )


def validate(config) -> None:
  """Raises UserError naming the first bad replay setting and what is allowed.

  Checks the kind and, whatever the kind, the range of every replay key the
  config holds (so a typo'd value fails even when that kind is not chosen).
  """
  kind = config.get("replay", "uniform")
  if kind not in KINDS:
    raise UserError(
        f"config.replay={kind!r} is not allowed: it must be one "
        f"of {', '.join(KINDS)}"
    )
  _in_unit_interval(config, "priority_exponent")
  _in_unit_interval(config, "importance_exponent")
  if "priority_eps" in config and not _positive_number(config.priority_eps):
    raise UserError(
        f"config.priority_eps={config.priority_eps!r} is not "
        "allowed: it must be a number > 0"
    )
  _in_unit_interval(config, "imagination_ratio")
  if config.get("imagination_model", "neural") not in IMAGINATION_MODELS:
    raise UserError(
        f"config.imagination_model={config.imagination_model!r} "
        "is not allowed: it must be one of "
        f"{', '.join(IMAGINATION_MODELS)}"
    )
  inner = config.get("imagination_replay", "uniform")
  if inner not in IMAGINATION_INNER_KINDS:
    raise UserError(
        f"config.imagination_replay={inner!r} is not allowed: "
        "it must be one of "
        f"{', '.join(IMAGINATION_INNER_KINDS)}"
    )
  _positive_integer(config, "imagination_horizon")
  _positive_integer(config, "imagination_capacity")
  _positive_integer(config, "model_time_steps")
  _positive_integer(config, "model_ensemble_size")
  _positive_integer(config, "model_train_steps")
  if "model_disagreement_bound" in config:
    value = config.model_disagreement_bound
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value < float("inf")
    ):
      raise UserError(
          f"config.model_disagreement_bound={value!r} is not allowed: it "
          "must be a finite number >= 0 (0: no bound)"
      )
  if "imagination_stop_env_steps" in config:
    value = config.imagination_stop_env_steps
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
      raise UserError(
          f"config.imagination_stop_env_steps={value!r} is not allowed: it "
          "must be an integer >= 0 (0: imagine for the whole run)"
      )
  for key in ("model_memory_steps", "model_prior_strength"):
    if key in config and not _positive_number(config[key]):
      raise UserError(
          f"config.{key}={config[key]!r} is not allowed: it must be a "
          "number > 0"
      )
  if "model_learning_rate" in config and not _positive_number(
      config.model_learning_rate
  ):
    raise UserError(
        f"config.model_learning_rate="
        f"{config.model_learning_rate!r} is not allowed: it must "
        "be a number > 0"
    )
  if "model_hidden_sizes" in config:
    sizes = config.model_hidden_sizes
    try:
      good = len(sizes) >= 1 and all(int(h) == h and h >= 1 for h in sizes)
    except TypeError:
      good = False
    if not good:
      raise UserError(
          f"config.model_hidden_sizes={sizes!r} is not allowed: "
          "it must be a non-empty tuple of positive layer sizes"
      )
  if "batch_size" in config and "replay_capacity" in config:
    if config.replay_capacity < config.batch_size:
      raise UserError(
          f"config.replay_capacity={config.replay_capacity} is "
          f"smaller than config.batch_size={config.batch_size}; "
          "the batch must fit in the buffer"
      )


def make_replay(
    config,
    specs: Any = None,
    *,
    gradient_steps: int = 0,
    num_envs: int | None = None,
) -> ReplayBuffer:
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
  validate(config)
  kind = config.get("replay", "uniform")
  if kind == "sequence":
    return sequence.from_config(config, num_envs)
  return _make(config, kind, specs, gradient_steps)


def _make(config, kind: str, specs, gradient_steps: int) -> ReplayBuffer:
  if kind == "uniform":
    return UniformReplay(int(config.replay_capacity))
  if kind == "prioritized":
    return PrioritizedReplay(
        capacity=int(config.replay_capacity),
        priority_exponent=float(config.priority_exponent),
        importance_exponent=float(config.importance_exponent),
        anneal_steps=int(gradient_steps),
        priority_eps=float(config.priority_eps),
    )
  if kind == "imagination":
    if specs is None:
      raise ValueError("imagination replay needs the task's specs")
    if not hasattr(specs.action, "num_values"):
      return _make_rollouts(config, specs, gradient_steps)
    if config.imagination_model in ("linear_gaussian", "ensemble"):
      raise UserError(
          f"config.imagination_model={config.imagination_model!r} models "
          "continuous actions; this task's actions are discrete: use neural "
          "or tabular"
      )
    num_actions = int(specs.action.num_values)
    if config.imagination_model == "tabular":
      encoding = models.StateEncoding.from_spec(specs.observation)
      model = models.TabularCountsModel(encoding.num_states, num_actions)
    else:
      encoding = None
      model = models.NeuralModel(
          num_actions=num_actions,
          observation_shape=tuple(specs.observation.shape),
          hidden_sizes=tuple(int(h) for h in config.model_hidden_sizes),
          learning_rate=float(config.model_learning_rate),
      )
    return ImaginationReplay(
        inner=_make(config, config.imagination_replay, specs, gradient_steps),
        model=model,
        ratio=float(config.imagination_ratio),
        gamma=float(config.gamma),
        num_actions=num_actions,
        encoding=encoding,
        model_batch_size=int(config.batch_size),
    )
  raise AssertionError(kind)  # validate() refused it


def _make_rollouts(config, specs, gradient_steps: int) -> ReplayBuffer:
  """Imagination replay with model rollouts, for a continuous-action task."""
  low, high = continuous.action_bounds(specs.action)
  action_size = int(low.shape[0])
  observation_shape = tuple(specs.observation.shape)
  observation_size = 1
  for d in observation_shape:
    observation_size *= int(d)
  kind = config.imagination_model
  if kind == "linear_gaussian":
    model = linear_gaussian.LinearGaussianModel(
        observation_size=observation_size,
        action_size=action_size,
        num_time_steps=int(config.model_time_steps),
        memory_steps=float(config.model_memory_steps),
        prior_strength=float(config.model_prior_strength),
    )
  elif kind in ("neural", "ensemble"):
    model = models.NeuralModel(
        num_actions=action_size,
        observation_shape=observation_shape,
        hidden_sizes=tuple(int(h) for h in config.model_hidden_sizes),
        learning_rate=float(config.model_learning_rate),
        action_size=action_size,
    )
    if kind == "ensemble":
      model = models.EnsembleModel(
          member=model,
          size=int(config.get("model_ensemble_size", 5)),
          disagreement_bound=float(config.get("model_disagreement_bound", 0)),
      )
  else:
    raise UserError(
        f"config.imagination_model={kind!r} needs discrete states and "
        "actions; for this continuous-action task use linear_gaussian, "
        "neural or ensemble"
    )
  horizon = int(config.imagination_horizon)
  ratio = float(config.imagination_ratio)
  batch_size = int(config.batch_size)
  imagined_per_call = int(config.num_updates) * int(round(ratio * batch_size))
  starts = -(-imagined_per_call // horizon)
  if starts * horizon > int(config.imagination_capacity):
    raise UserError(
        f"config.imagination_capacity={config.imagination_capacity} cannot "
        f"hold one learn call's rollouts ({starts} x imagination_horizon="
        f"{horizon} items): it must be at least {starts * horizon}"
    )
  rollouts = imagination.Rollouts(
      horizon=horizon,
      low=tuple(float(v) for v in low),
      high=tuple(float(v) for v in high),
      noise_sigma=float(config.get("exploration_sigma", 0.0)),
      starts=starts,
      capacity=int(config.imagination_capacity),
      chunk_length=int(config.rollout_length),
      max_streams=int(config.num_envs),
      stop_steps=int(config.get("imagination_stop_env_steps", 0)),
      model_steps=int(config.get("model_train_steps", 1)),
  )
  return ImaginationReplay(
      inner=_make(config, config.imagination_replay, specs, gradient_steps),
      model=model,
      ratio=ratio,
      gamma=float(config.gamma),
      num_actions=action_size,
      model_batch_size=batch_size,
      rollouts=rollouts,
  )
