"""Restore the latest checkpoint of a run and evaluate it greedily (scripts.evaluate).

It says which checkpoint (segment, env steps) it evaluated, and whether that
is the one DIR/summary.json reports (an unreadable newest checkpoint makes it
fall back to an older one).
"""

from __future__ import annotations

import json
import os
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


def evaluate_workdir(
    workdir: str, episodes: int, seed: int = 0, log=print
) -> dict:
  """Evaluates DIR's newest readable checkpoint; writes DIR/eval.json."""
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
  config = train_lib.load_workdir_config(workdir)
  _, loop = train_lib.build_loop(config)
  try:
    return _evaluate(workdir, config, loop, episodes, seed, log)
  finally:
    loop.close()


def _evaluate(workdir, config, loop, episodes, seed, log) -> dict:
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
  returns, _ = loop.evaluate(state, key, episodes)
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
  path = os.path.join(workdir, "eval.json")
  workdir_lib.write_json_atomic(path, result)
  log(
      f"evaluated {workdir} with the checkpoint of segment {step} "
      f"({env_steps:,} env steps): greedy return "
      f"{result['eval_return_mean']:.3f} over {episodes} episodes per seed "
      f"-> {path}"
  )
  return result
