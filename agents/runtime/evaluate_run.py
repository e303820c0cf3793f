"""Restore the latest checkpoint of a run and evaluate it greedily (scripts.evaluate).

It says which checkpoint (segment, env steps) it evaluated, and whether that
is the one DIR/summary.json reports (an unreadable newest checkpoint makes it
fall back to an older one).

Off-distribution evaluation: `task_overrides` ("key=value" strings, the
script's repeated --task_override) evaluate the frozen agent on another
variant of its task: `env=<task name>` (e.g. bandit_hard for an agent
trained on bandit_independent) and any static parameter of the task
(`num_trials=150`, `arm_distribution=easy`, `volatilities=(0.3,)`, ...;
values are Python literals, else strings). The checkpoint is restored with
the trained run's own loop and evaluated on a loop built for the overridden
task, whose observation and action specs must equal the trained task's. A
bad key or value is a UserError naming the allowed keys. The result goes to
DIR/eval_<overrides>.json (DIR/eval.json without overrides) and, for a
meta-RL task, includes per seed the numbers of agents.analysis.meta_rl
(`meta_rl.frozen_task_numbers`: a bandit's cumulative regret by trial).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import re
import time

import jax
import numpy as np

from agents.runtime import checkpointing
from agents.runtime import train as train_lib
from agents.runtime import workdir as workdir_lib
from agents.runtime.errors import UserError


def _summary_env_steps(workdir: str) -> int | None:
  """The env steps DIR/summary.json reports, or None (absent, unreadable)."""
  try:
    with open(os.path.join(workdir, "summary.json")) as f:
      return int(json.load(f)["env_steps"])
  except (OSError, ValueError, KeyError, TypeError):
    return None


def parse_task_overrides(overrides) -> dict:
  """["key=value", ...] -> {key: value} (values as Python literals when
  they parse, else strings); UserError for an entry without '='."""
  parsed = {}
  for item in overrides or ():
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
      raise UserError(
          f"--task_override={item!r} is not key=value (e.g. num_trials=150)"
      )
    try:
      value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
      value = text.strip()
    parsed[key] = value
  return parsed


def override_task(config, overrides: dict):
  """A copy of `config` whose task carries `overrides` (see the module
  docstring); UserError for an unknown key or a bad value."""
  from environments import registry  # pylint: disable=g-import-not-at-top

  config = config.copy_and_resolve_references()
  overrides = dict(overrides)
  env_name = overrides.pop("env", config.env)
  if not isinstance(env_name, str) or env_name not in registry.FUNCTIONAL_TASKS:
    raise UserError(
        f"--task_override env={env_name!r} is not a functional task; known: "
        f"{', '.join(sorted(registry.FUNCTIONAL_TASKS))}"
    )
  kwargs = dict(config.env_kwargs.to_dict(), **overrides)
  try:
    probe = registry.FUNCTIONAL_TASKS[env_name]()
    allowed = sorted(f.name for f in dataclasses.fields(probe))
  except (TypeError, ValueError):
    allowed = None
  if allowed is not None:
    # Another task keeps only the trained task's parameters it has.
    kwargs = {k: v for k, v in kwargs.items() if k in allowed or k in overrides}
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
      raise UserError(
          f"unknown task key(s) {', '.join(unknown)} for task {env_name!r}; "
          f"allowed: env, {', '.join(allowed)}"
      )
  try:
    env = registry.make(env_name, **kwargs)
  except registry.UnknownTaskError as e:
    raise UserError(f"--task_override: {e}") from None
  config.env = env_name
  config.env_kwargs = kwargs
  if "eval_max_steps" in config:
    from agents.analysis import meta_rl  # pylint: disable=g-import-not-at-top

    try:  # a meta-RL episode (+ its LAST step) must fit
      config.eval_max_steps = max(
          config.eval_max_steps, meta_rl.episode_length(env) + 1
      )
    except TypeError:
      pass
  return config


def _spec_key(specs) -> tuple:
  """(observation shape, dtype, number of actions or action shape)."""
  action = specs.action
  return (
      tuple(specs.observation.shape),
      str(specs.observation.dtype),
      getattr(action, "num_values", tuple(action.shape)),
  )


def _override_suffix(overrides: dict) -> str:
  text = "_".join(f"{k}={v}" for k, v in sorted(overrides.items()))
  return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text).strip("-")[:120]


def evaluate_workdir(
    workdir: str,
    episodes: int,
    seed: int = 0,
    log=print,
    task_overrides=None,
) -> dict:
  """Evaluates DIR's newest readable checkpoint; writes DIR/eval.json
  (DIR/eval_<overrides>.json with `task_overrides`, see the module
  docstring)."""
  if episodes < 1 or episodes > 10**7:
    raise UserError(
        f"--episodes={episodes} is not allowed: it must be an "
        "integer in [1, 10000000]"
    )
  if seed < 0 or seed >= 2**31:
    raise UserError(
        f"--seed={seed} is not allowed: it must be an integer in "
        "[0, 2147483647]"
    )
  overrides = parse_task_overrides(task_overrides)
  config = train_lib.load_workdir_config(workdir)
  eval_config = override_task(config, overrides) if overrides else None
  _, loop = train_lib.build_loop(config)
  eval_loop = None
  try:
    if eval_config is not None:
      _, eval_loop = train_lib.build_loop(eval_config)
      if _spec_key(eval_loop.specs()) != _spec_key(loop.specs()):
        raise UserError(
            f"--task_override: the task {eval_config.env!r} "
            f"{dict(eval_config.env_kwargs)} has observations/actions "
            f"{_spec_key(eval_loop.specs())}, the trained task "
            f"{_spec_key(loop.specs())}; the frozen agent cannot play it"
        )
    return _evaluate(
        workdir, config, loop, episodes, seed, log, eval_loop, overrides
    )
  finally:
    loop.close()
    if eval_loop is not None:
      eval_loop.close()


def _evaluate(
    workdir, config, loop, episodes, seed, log, eval_loop=None, overrides=None
) -> dict:
  workdir_lib.ensure_writable_dir(workdir)
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    raise UserError(f"{workdir} has no checkpoints to evaluate")
  checkpointer = checkpointing.Checkpointer(
      directory, config.keep_checkpoints, create=False
  )
  abstract = loop.abstract_state(config.num_seeds)
  restored = checkpointer.restore_latest(abstract)
  checkpointer.close()
  if restored is None:
    raise UserError(f"{workdir} has no readable checkpoint to evaluate")
  step, state = restored
  env_steps = int(step * loop.env_steps_per_segment)
  reported = _summary_env_steps(workdir)
  if reported is not None and reported != env_steps:
    log(
        f"note: summary.json reports {reported:,} env steps, but the newest "
        f"readable checkpoint is segment {step} ({env_steps:,} env steps): "
        "this evaluates that older policy"
    )
  key = jax.random.PRNGKey(seed)
  t0 = time.perf_counter()
  returns, _ = (eval_loop or loop).evaluate(state, key, episodes)
  result = {
      "checkpoint_segment": int(step),
      "env_steps": env_steps,
      "same_as_summary": reported == env_steps
      if reported is not None
      else None,
      "episodes": int(episodes),
      "eval_return_mean": float(np.mean(returns)),
      "eval_return_std": float(np.std(returns)),
      "eval_return_per_seed": [float(x) for x in np.mean(returns, axis=1)],
      "eval_seconds": time.perf_counter() - t0,
  }
  name = "eval.json"
  if overrides:
    result["task_overrides"] = overrides
    result["task"] = overrides.get("env", config.env)
    name = f"eval_{_override_suffix(overrides)}.json"
  result["params_sha256"] = params_fingerprints(loop, state)
  frozen = _frozen_task_numbers(eval_loop or loop, state, key, episodes)
  if frozen is not None:
    result["per_seed"] = frozen
  path = os.path.join(workdir, name)
  workdir_lib.write_json_atomic(path, result)
  log(
      f"evaluated {workdir} with the checkpoint of segment {step} "
      f"({env_steps:,} env steps): greedy return "
      f"{result['eval_return_mean']:.3f} over {episodes} episodes per seed "
      f"-> {path}"
  )
  return result


def _frozen_task_numbers(loop, state, key, episodes):
  """Per seed, a meta-RL task's numbers (meta_rl.frozen_task_numbers), or
  None for other tasks and loops without a functional env."""
  env = getattr(loop, "env", None)
  if env is None:
    return None
  from agents.analysis import meta_rl  # pylint: disable=g-import-not-at-top

  if not meta_rl.is_meta_rl_task(env):
    return None
  params = loop.agent_states(state).params
  num_seeds = jax.tree.leaves(params)[0].shape[0]
  return [
      meta_rl.frozen_task_numbers(
          loop.agent,
          env,
          jax.tree.map(lambda x, i=i: x[i], params),
          key,
          episodes,
      )
      for i in range(num_seeds)
  ]


def params_fingerprints(loop, state) -> list[str] | None:
  """Per seed, the sha256 (first 16 hex digits) of the restored parameters'
  bytes: equal strings = bitwise equal weights (same seed on two machines,
  README "Same seed, other machine"). None for states without params."""
  params = getattr(loop.agent_states(state), "params", None)
  if params is None:
    return None
  leaves = [np.asarray(x) for x in jax.tree.leaves(params)]
  out = []
  for i in range(leaves[0].shape[0]):
    digest = hashlib.sha256()
    for leaf in leaves:
      digest.update(np.ascontiguousarray(leaf[i]).tobytes())
    out.append(digest.hexdigest()[:16])
  return out
