"""Restore the latest checkpoint of a run and evaluate it greedily (scripts.evaluate)."""

from __future__ import annotations

import os
import time

import jax
import numpy as np

from agents.runtime import anakin
from agents.runtime import checkpointing
from agents.runtime import evaluation
from agents.runtime import train as train_lib
from agents.runtime import workdir as workdir_lib
from agents.runtime.errors import UserError


def evaluate_workdir(workdir: str, episodes: int, seed: int = 0) -> dict:
  if episodes < 1:
    raise UserError(f"--episodes={episodes} is not allowed: it must be >= 1")
  config = train_lib.load_workdir_config(workdir)
  agent, loop, is_host = train_lib.build_loop(config)
  checkpointer = checkpointing.Checkpointer(
      os.path.join(workdir, "checkpoints"), config.keep_checkpoints)
  abstract = (loop.abstract_state(config.seed) if is_host
              else loop.abstract_state(config.num_seeds))
  restored = checkpointer.restore_latest(abstract)
  checkpointer.close()
  if restored is None:
    raise UserError(f"{workdir} has no readable checkpoint to evaluate")
  step, state = restored
  key = jax.random.PRNGKey(seed)
  t0 = time.perf_counter()
  if is_host:
    returns = loop.evaluate(state, key, episodes)[None]
  else:
    evaluate = jax.jit(jax.vmap(evaluation.make_evaluate(
        agent, loop.env, episodes, config.eval_max_steps), in_axes=(0, None)))
    agent_state = anakin.fetch_replicated(state.agent_state)
    returns, _ = jax.device_get(
        evaluate(jax.vmap(agent.actor_params)(agent_state), key))
  result = {
      "checkpoint_segment": int(step),
      "env_steps": int(step * loop.env_steps_per_segment),
      "episodes": int(episodes),
      "eval_return_mean": float(np.mean(returns)),
      "eval_return_std": float(np.std(returns)),
      "eval_return_per_seed": [float(x) for x in np.mean(returns, axis=1)],
      "eval_seconds": time.perf_counter() - t0,
  }
  path = os.path.join(workdir, "eval.json")
  workdir_lib.write_json_atomic(path, result)
  print(f"evaluated {workdir} at {result['env_steps']:,} env steps: greedy "
        f"return {result['eval_return_mean']:.3f} over {episodes} episodes "
        f"per seed -> {path}")
  return result
