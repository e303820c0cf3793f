"""Every config key's type and allowed range, declared once.

`validate(config)` checks each key of a resolved config against `SCHEMA`
before anything is built or written; a key that is not declared here is an
error too, so a new key cannot slip through unchecked (tests/test_reliability.py
walks every preset of every configs/*.py file).

Declaring a key is one line in `SCHEMA`, for example:

  "num_atoms": integer(min=2),
  "tau": number(min=0, max=1, min_open=True),
  "kind": choice("uniform", "prioritized"),
  "n_step": either(integer(min=1), boolean()),

Cross-key rules (batch within capacity, ...) live in
`agents.runtime.train.validate_config`; rules that depend on the agent (ER-DQN's
odd number of expectiles) stay with the agent.
"""

# `min` and `max` name the bounds in SCHEMA's one-line declarations.
# pylint: disable=redefined-builtin

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import os
import re
from typing import Any, Callable

from agents.runtime.errors import UserError

# Counters and sizes end up in int32 arrays.
INT32_MAX = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class Spec:
  """One key's rule: `check(value)` is True when allowed; `allowed` says
  what is allowed, in words (used in error messages and `--help`)."""

  check: Callable[[Any], bool]
  allowed: str

  def __call__(self, value: Any) -> bool:
    try:
      return bool(self.check(value))
    except (TypeError, ValueError, OverflowError):
      return False


def _is_int(v: Any) -> bool:
  return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
  return (
      isinstance(v, (int, float))
      and not isinstance(v, bool)
      and math.isfinite(v)
  )


def _range_words(lo, hi, lo_open=False, hi_open=False) -> str:
  if lo is not None and hi is not None:
    return f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
  if lo is not None:
    return f"{'>' if lo_open else '>='} {lo}"
  if hi is not None:
    return f"{'<' if hi_open else '<='} {hi}"
  return ""


def integer(
    min: int | None = None, max: int | None = INT32_MAX, note: str = ""
) -> Spec:
  """An int (not a bool) in [min, max]."""

  def check(v):
    return (
        _is_int(v) and (min is None or v >= min) and (max is None or v <= max)
    )

  words = f"an integer {_range_words(min, max)}".strip()
  return Spec(check, words + (f" ({note})" if note else ""))


def number(
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
    note: str = "",
) -> Spec:
  """A finite int or float (no NaN, no inf) in the given range."""

  def check(v):
    if not _is_number(v):
      return False
    if min is not None and (v <= min if min_open else v < min):
      return False
    if max is not None and (v >= max if max_open else v > max):
      return False
    return True

  words = f"a finite number {_range_words(min, max, min_open, max_open)}"
  return Spec(check, words.strip() + (f" ({note})" if note else ""))


def boolean() -> Spec:
  return Spec(lambda v: isinstance(v, bool), "True or False")


def choice(*values: str) -> Spec:
  return Spec(
      lambda v: isinstance(v, str) and v in values,
      "one of " + ", ".join(repr(v) for v in values),
  )


def text(note: str) -> Spec:
  """A non-empty string; what it names is checked where it is looked up."""
  return Spec(
      lambda v: isinstance(v, str) and bool(v.strip()),
      f"a non-empty string ({note})",
  )


def sizes(min_len: int = 1) -> Spec:
  """A tuple of layer sizes, each an integer in [1, 65536]."""
  return Spec(
      lambda v: (
          isinstance(v, (tuple, list))
          and len(v) >= min_len
          and all(_is_int(h) and 1 <= h <= 65536 for h in v)
      ),
      "a non-empty tuple of layer sizes, each an integer in [1, 65536]",
  )


def either(*specs: Spec) -> Spec:
  """Any one of `specs` (a key whose meaning differs between agents)."""
  return Spec(
      lambda v: any(s(v) for s in specs), " or ".join(s.allowed for s in specs)
  )


def mapping(note: str) -> Spec:
  return Spec(lambda v: hasattr(v, "keys"), f"a mapping ({note})")


_COUNT = dict(min=1)
_PROBABILITY = dict(min=0, max=1)

# key -> its rule. Keep sorted; one line per key.
SCHEMA: dict[str, Spec] = {
    "actor_learning_rate": number(min=0, min_open=True, note="DDPG's actor"),
    "agent": text("an agent name from agents/registry.py"),
    "anneal_learning_rate": boolean(),
    "batch_size": integer(**_COUNT),
    "burn_in": integer(min=0, max=100_000),
    "checkpoint_every_segments": integer(**_COUNT),
    "double_q": boolean(),
    "entropy_anneal_env_steps": integer(min=0, note="0 = the whole run"),
    "entropy_coef": number(min=0),
    "entropy_end": number(min=0),
    "entropy_start": number(min=0),
    "env": text("a task from environments/registry.py, or bsuite:<id>"),
    "env_kwargs": mapping("the task's static parameters"),
    "epsilon": number(**_PROBABILITY),
    "epsilon_decay_env_steps": integer(**_COUNT),
    "epsilon_end": number(**_PROBABILITY),
    "epsilon_start": number(**_PROBABILITY),
    "eval_episodes": integer(**_COUNT),
    "eval_epsilon": number(**_PROBABILITY),
    "eval_greedy": boolean(),
    "eval_max_steps": integer(**_COUNT),
    "evb_threshold": number(),
    "event_log_capacity": integer(**_COUNT),
    "exploration_noise": choice("gaussian", "ou"),
    "exploration_sigma": number(
        min=0, note="in units of half the action range"
    ),
    "forget_bias": number(note="the LSTM forget gate's initial bias"),
    "gae_lambda": number(
        min=0, max=1, note="1 = n-step returns, 0 = one-step TD"
    ),
    "gamma": number(min=0, max=1),
    "hidden_sizes": sizes(),
    "hogwild_lock": boolean(),
    "huber_delta": number(
        min=0, min_open=True, note="0 would make the loss zero everywhere"
    ),
    "huber_param": number(min=0, note="0 = the pure quantile loss"),
    "imagination_capacity": integer(
        **_COUNT, note="imagined items held (continuous rollouts)"
    ),
    "imagination_horizon": integer(
        **_COUNT, note="model steps per imagination rollout"
    ),
    "imagination_model": choice(
        "ensemble", "linear_gaussian", "neural", "tabular"
    ),
    "imagination_ratio": number(**_PROBABILITY),
    "imagination_replay": choice("uniform", "prioritized"),
    "imagination_stop_env_steps": integer(
        min=0, note="env steps after which batches are real (0: never)"
    ),
    "importance_exponent": number(**_PROBABILITY, note="beta_0, annealed to 1"),
    "inverse_temperature": number(min=0, min_open=True),
    "kappa": number(min=0, note="Dyna-Q+'s exploration bonus weight"),
    "keep_checkpoints": integer(**_COUNT),
    "learning_rate": number(min=0, min_open=True),
    "learning_rate_max": number(min=0, min_open=True),
    "learning_rate_min": number(min=0, min_open=True),
    "learning_rate_sampling": choice("fixed", "log_uniform"),
    "log_every_env_steps": integer(**_COUNT),
    "loop": choice("auto", "anakin", "host", "hogwild", "sebulba"),
    "lstm_size": integer(min=1, max=65536),
    "max_grad_norm": number(min=0, note="0 = no clipping"),
    "min_gain": number(min=0),
    "min_replay_size": integer(**_COUNT),
    "min_variance": number(min=0, note="Gaussian policy's variance floor"),
    "model_disagreement_bound": number(
        min=0, note="ensemble rollouts stop above it (0: no bound)"
    ),
    "model_ensemble_size": integer(**_COUNT),
    "model_hidden_sizes": sizes(),
    "model_learning_rate": number(min=0, min_open=True),
    "model_memory_steps": number(
        min=0, min_open=True, note="real transitions the model remembers"
    ),
    "model_prior_strength": number(
        min=0, min_open=True, note="pseudo-transitions of the pooled prior"
    ),
    "model_time_steps": integer(
        **_COUNT, note="time-varying slices of the linear-Gaussian model"
    ),
    "model_train_steps": integer(
        **_COUNT, note="model steps per learn call (continuous rollouts)"
    ),
    "n_step": integer(min=1, max=10_000),
    "n_step_extension": boolean(),
    "need_model": choice("learned", "policy"),
    "num_actors": integer(min=1, max=1024, note="K threads"),
    "num_cosine_features": integer(min=1, max=65536),
    "num_devices": integer(min=0, note="0 = all devices"),
    "num_envs": integer(min=1, max=2**20),
    "num_expectiles": integer(min=1, max=65536),
    "num_imputation_steps": integer(min=1, max=10_000),
    "num_quantiles": integer(min=1, max=65536),
    "num_seeds": integer(min=1, max=65536),
    "num_tau_act_samples": integer(min=1, max=65536),
    "num_tau_samples": integer(min=1, max=65536),
    "num_updates": integer(**_COUNT),
    "optimizer": choice("adam", "rmsprop"),
    "optimizer_eps": number(min=0, min_open=True),
    "ou_theta": number(min=0, max=1, note="OU noise's mean reversion"),
    "per_actor_updates": boolean(),
    "planning_steps": integer(min=1, max=1_000_000),
    "policy": choice("softmax", "epsilon_greedy"),
    "priority_eps": number(min=0, min_open=True),
    "priority_eta": number(**_PROBABILITY, note="R2D2's max/mean mix"),
    "priority_exponent": number(**_PROBABILITY, note="alpha"),
    "priority_threshold": number(min=0, note="prioritized sweeping's theta"),
    "queue_size": integer(
        min=1, max=2**16, note="trajectories between actors and learner"
    ),
    "replay": choice("uniform", "prioritized", "imagination", "sequence"),
    "replay_capacity": integer(**_COUNT),
    "replay_log_size": integer(**_COUNT),
    "replay_mode": choice("prioritized", "random", "none"),
    "replay_steps": integer(min=1, max=1_000_000),
    "reward_scale": number(
        min=0,
        min_open=True,
        note="rewards times this in the targets and returns",
    ),
    "rmsprop_decay": number(min=0, max=1, max_open=True),
    "rollout_length": integer(**_COUNT),
    "seed": integer(
        min=0, max=2**30, note="seeds seed .. seed + num_seeds - 1 are used"
    ),
    "sequence_length": integer(min=2, max=100_000),
    "shared_torso": boolean(),
    "sequence_period": integer(min=1, max=100_000),
    "target_update_env_steps": integer(**_COUNT),
    "target_update_period": integer(**_COUNT),
    "target_update_tau": number(
        min=0, max=1, min_open=True, note="soft target update rate"
    ),
    "total_env_steps": integer(**_COUNT),
    "transition_learning_rate": number(min=0, max=1, min_open=True),
    "use_reward_input": boolean(),
    "value_coef": number(min=0),
    "value_rescaling": boolean(),
}


def config_modules() -> list[str]:
  """The agents' config files: configs/<name>.py defining get_config."""
  directory = os.path.join(
      os.path.dirname(
          os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
      ),
      "configs",
  )
  names = []
  for name in sorted(os.listdir(directory)):
    path = os.path.join(directory, name)
    if name.endswith(".py") and defines_get_config(path):
      names.append(name[:-3])
  return names


def defines_get_config(path: str) -> bool:
  """Whether the Python file at `path` defines a top-level get_config."""
  try:
    with open(path) as f:
      tree = ast.parse(f.read(), path)
  except (OSError, SyntaxError, ValueError):
    return False
  return any(
      isinstance(node, ast.FunctionDef) and node.name == "get_config"
      for node in tree.body
  )


def presets_of(module) -> tuple[str, ...]:
  """A config module's presets: its `PRESETS` tuple, else the names in the
  `Presets: a (default), b, c.` line of its docstring, else only the default
  of `get_config(preset=...)` (or () if it has none)."""
  presets = getattr(module, "PRESETS", None)
  if presets:
    return tuple(presets)
  found = re.search(r"Presets:\s*([^.]*)\.", module.__doc__ or "")
  if found:
    names = [
        p.replace("(default)", "").strip() for p in found.group(1).split(",")
    ]
    if names and all(re.fullmatch(r"\w+", n) for n in names):
      return tuple(names)
  parameters = list(inspect.signature(module.get_config).parameters.values())
  if parameters and parameters[0].default is not inspect.Parameter.empty:
    return (parameters[0].default,)
  return ()


def validate(config) -> None:
  """Raises UserError for the first key that is undeclared or not allowed."""
  for key in sorted(config.keys()):
    spec = SCHEMA.get(key)
    if spec is None:
      raise UserError(
          f"config key {key!r} has no declared type and range: declare it in "
          "agents/runtime/config_schema.py (SCHEMA)"
      )
    value = config[key]
    if not spec(value):
      raise UserError(
          f"config.{key}={value!r} is not allowed: it must be "
          f"{spec.allowed}"
      )
