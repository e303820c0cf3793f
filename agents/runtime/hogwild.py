"""Asynchronous actor-learners on one host, as in Mnih et al. 2016,
"Asynchronous methods for deep reinforcement learning" (ICML): K Python
threads, each with its own copies of the environment, apply their gradients
to shared parameters without waiting for each other ("Hogwild!", Recht et
al. 2011, "Hogwild: a lock-free approach to parallelizing stochastic
gradient descent").

One thread, one iteration (Algorithm S2/S3 of the paper, one jitted call):
  snapshot  theta' <- the shared agent state as it is now
  rollout   t_max = `rollout_length` steps of its `num_envs / K` functional
            environments, acting with theta' (lib: rollout.rollout)
  gradients d theta <- agent.gradients(theta', trajectory, key)
then `agent.apply(current shared state, d theta, aux)`: the gradient was
computed on the snapshot, which other threads may have updated since, so it
is applied stale, by design (the paper's asynchrony). The optimizer state
(e.g. the paper's shared RMSProp statistics) is part of the shared state.

What "lock-free" means here. In Hogwild, parameters are one mutable array in
shared memory and threads write into it element by element, racing. JAX
arrays are immutable: an update makes a new agent state, and "the shared
state" is a Python reference to the newest one. Publishing it is an atomic
reference swap; but a thread that computed `apply` on state v while another
thread published v+1 would, by swapping blindly, erase that thread's update
(a lost update, which element-wise Hogwild never has: its races interleave
writes, they do not drop whole updates). So a thread publishes with a
compare-and-swap: if the shared state is still the one it applied to, it
swaps in its result; otherwise it re-applies the SAME gradient to the newer
state and tries again (`SharedState.update`). No thread ever waits for
another's `apply` (optimistic concurrency); every gradient is applied exactly
once, to the state that survives; `cas_retries` counts the re-applications.
CPython has no compare-and-swap instruction: the compare and the swap (two
bytecodes, no JAX work) run under a tiny lock, which is the CAS, not a lock
around the update. With `config.hogwild_lock` the whole read-apply-publish is
under one lock instead (the paper's alternative; no retries).

Threads and cores: each thread's jitted call releases the GIL while XLA runs,
so threads overlap on separate cores; on this 2-core machine the speed-up in
env steps/s is bounded by 2 and by XLA's own use of both cores
(scripts/benchmark.py, hogwild rows).

Segments: every thread runs `iterations_per_segment` iterations, then the
threads are joined: a segment is K x iterations applied gradients and
`env_steps_per_segment` env steps, and the state between segments (shared
agent state, every environment, keys) is consistent and checkpointed whole.
With K = 1 the loop is deterministic (the one thread's snapshot is always
the newest state), so a resumed run is bitwise the same; with K > 1 the order
of the updates depends on the scheduler, and resume continues learning
without being bitwise the same.

Randomness: environment k*b+i (thread k, b = num_envs / K) has its own task,
action and initial-actor-state keys from the seed and its global index, as
in the compiled loop; each thread has its own learn key stream.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from agents import types
from agents.lib import cpu_threefry
from agents.runtime import evaluation
from agents.runtime import loops
from agents.runtime import rollout as rollout_lib
from agents.runtime.errors import LoopCrashed, UserError
from environments import base

JOIN_POLL_SECONDS = 0.05  # the main thread stays responsive to Ctrl-C


@struct.dataclass
class HogwildState:
  agent_state: Any  # the shared state (no leading axes)
  carry: rollout_lib.Carry  # every environment, [num_envs, ...]
  learn_keys: chex.PRNGKey  # [K], one stream per thread
  applied: chex.Array  # int32: gradients applied over the run


class SharedState:
  """The newest shared value, updated by compare-and-swap (see module doc).

  `update(fn)`: `fn(value) -> (new_value, out)` must be pure; it may be
  called more than once (on newer values) before its result is published.
  Returns (out, retries, staleness): how often `fn` had to be re-applied,
  and how many updates were published between `read` and `update` (when
  `since` is the version `read` returned).
  """

  def __init__(self, value: Any, lock_updates: bool = False):
    self._current = (value, 0)  # (value, version): replaced, never mutated
    self._swap = threading.Lock()  # guards the compare and the swap only
    self._update_lock = threading.Lock() if lock_updates else None

  def read(self) -> tuple[Any, int]:
    return self._current  # one attribute read: atomic under the GIL

  def update(self, fn: Callable[[Any], tuple[Any, Any]], since: int = -1):
    if self._update_lock is not None:
      with self._update_lock:
        value, version = self._current
        new, out = fn(value)
        self._current = (new, version + 1)
        return out, 0, (version - since if since >= 0 else 0)
    retries = 0
    while True:
      value, version = self._current
      new, out = fn(value)
      with self._swap:
        if self._current[1] == version:
          self._current = (new, version + 1)
          return out, retries, (version - since if since >= 0 else 0)
      retries += 1


@dataclasses.dataclass
class HogwildLoop:
  """K actor-learner threads on one host sharing one agent state."""

  agent: types.Agent
  env: base.Environment
  num_envs: int  # over all threads
  num_actors: int  # K
  rollout_length: int
  iterations_per_segment: int  # per thread
  lock: bool = False
  eval_max_steps: int = 1000
  num_devices: int = 1

  def __post_init__(self):
    cpu_threefry.install_for_runtime()  # before anything here compiles
    self.envs_per_actor = self.num_envs // self.num_actors
    self.env_steps_per_segment = (
        self.num_envs * self.rollout_length * self.iterations_per_segment
    )
    agent, env, T = self.agent, self.env, self.rollout_length
    add_axis = lambda tree: jax.tree.map(lambda x: x[None], tree)
    drop_axis = lambda tree: jax.tree.map(lambda x: x[0], tree)
    gradients = jax.vmap(agent.gradients, axis_name=types.DEVICE_AXIS)
    apply = jax.vmap(agent.apply, axis_name=types.DEVICE_AXIS)

    def actor_learner_step(snapshot, carry, learn_key):
      carry, trajectory, finished, returns = rollout_lib.rollout(
          agent, env, T, agent.actor_params(snapshot), carry
      )
      learn_key, key = jax.random.split(learn_key)
      grads, aux = drop_axis(
          gradients(add_axis(snapshot), add_axis(trajectory), key[None])
      )
      return (
          carry,
          learn_key,
          grads,
          aux,
          rollout_lib.episode_stats(finished, returns),
      )

    def apply_step(shared, grads, aux):
      agent_state, applied = shared
      agent_state, metrics = drop_axis(
          apply(add_axis(agent_state), add_axis(grads), add_axis(aux))
      )
      return (agent_state, applied + 1), metrics

    self._step = jax.jit(actor_learner_step)
    self._apply = jax.jit(apply_step)
    self._evaluate = {}
    # One init program for every seed (the seed's key is its argument).
    self._init = jax.jit(self._init_from_key)

  # ---- state -----------------------------------------------------------------
  def init(self, seeds: list[int]) -> HogwildState:
    return self._init(jax.random.PRNGKey(seeds[0]))

  def _init_from_key(self, key: chex.PRNGKey) -> HogwildState:
    agent_key, env_key, actor_key, learn_key = jax.random.split(key, 4)
    carry = rollout_lib.seeded_carry(
        self.agent, self.env, env_key, actor_key, jnp.arange(self.num_envs)
    )
    return HogwildState(
        agent_state=self.agent.init(agent_key, self._specs()),
        carry=carry,
        learn_keys=jax.vmap(jax.random.fold_in, (None, 0))(
            learn_key, jnp.arange(self.num_actors)
        ),
        applied=jnp.zeros((), jnp.int32),
    )

  def _specs(self) -> types.EnvSpecs:
    return types.EnvSpecs(self.env.observation_spec(), self.env.action_spec())

  def abstract_state(self, num_seeds: int = 1) -> HogwildState:
    del num_seeds  # one
    return jax.eval_shape(lambda: self.init([0]))

  def prepare(self, state: HogwildState) -> bool:
    """Compiles the actor-learner step and `apply` (before the threads)."""
    carry = self._thread_carry(state.carry, 0)
    self._step.lower(state.agent_state, carry, state.learn_keys[0]).compile()
    grads, aux = jax.eval_shape(
        lambda: self._step(state.agent_state, carry, state.learn_keys[0])
    )[2:4]
    self._apply.lower((state.agent_state, state.applied), grads, aux).compile()
    return True

  def _thread_carry(self, carry, k: int):
    b = self.envs_per_actor
    return jax.tree.map(lambda x: x[k * b : (k + 1) * b], carry)

  # ---- one segment -----------------------------------------------------------
  def run_segment(self, state: HogwildState):
    K = self.num_actors
    shared = SharedState(
        (state.agent_state, state.applied), lock_updates=self.lock
    )
    carries = [self._thread_carry(state.carry, k) for k in range(K)]
    learn_keys = [state.learn_keys[k] for k in range(K)]
    records: list[list] = [[] for _ in range(K)]
    stop = threading.Event()
    errors: list[tuple[int, BaseException]] = []

    def actor_learner(k: int):
      try:
        for _ in range(self.iterations_per_segment):
          if stop.is_set():
            return
          snapshot, version = shared.read()
          carries[k], learn_keys[k], grads, aux, stats = self._step(
              snapshot[0], carries[k], learn_keys[k]
          )
          metrics, retries, staleness = shared.update(
              lambda value: self._apply(value, grads, aux), since=version
          )
          # Pace the thread: its environments are stepped before the next
          # snapshot, so the K threads really run side by side.
          jax.block_until_ready(carries[k].episode_return)
          records[k].append((metrics, stats, retries, staleness))
      except BaseException as e:  # pylint: disable=broad-except
        errors.append((k, e))
        stop.set()

    threads = [
        threading.Thread(
            target=actor_learner,
            args=(k,),
            name=f"hogwild-actor-learner-{k}",
            daemon=True,
        )
        for k in range(K)
    ]
    for thread in threads:
      thread.start()
    try:
      for thread in threads:
        while thread.is_alive():
          thread.join(JOIN_POLL_SECONDS)
          if errors:
            break
    finally:
      stop.set()
      for thread in threads:
        thread.join()
    if errors:
      k, e = errors[0]
      raise LoopCrashed(
          f"hogwild actor-learner thread {k} of {K} crashed: "
          f"{type(e).__name__}: {e}; the run stopped"
      ) from e
    (agent_state, applied), _ = shared.read()
    state = HogwildState(
        agent_state=agent_state,
        carry=jax.tree.map(lambda *xs: jnp.concatenate(xs), *carries),
        learn_keys=jnp.stack(learn_keys),
        applied=applied,
    )
    return state, self._summary(records)

  def _summary(self, records) -> dict[str, np.ndarray]:
    flat = jax.device_get([r for thread in records for r in thread])
    metrics = [m for m, *_ in flat]
    summary = {k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]}
    summary["all_finite"] = float(
        all(np.all(np.isfinite(m[k])) for m in metrics for k in m)
    )
    episodes = sum(float(s["episodes"]) for _, s, *_ in flat)
    summary["episodes"] = episodes
    summary["episode_return_mean"] = sum(
        float(s["episode_return_sum"]) for _, s, *_ in flat
    ) / max(episodes, 1.0)
    summary["gradients_applied"] = float(len(flat))
    summary["cas_retries"] = float(sum(r for *_, r, _ in flat))
    summary["staleness"] = float(np.mean([s for *_, s in flat]))
    return {k: np.asarray([v], np.float32) for k, v in summary.items()}

  # ---- evaluation ------------------------------------------------------------
  def agent_states(self, state: HogwildState):
    return jax.device_get(jax.tree.map(lambda x: x[None], state.agent_state))

  def evaluate(self, state: HogwildState, key, episodes: int):
    if episodes not in self._evaluate:
      self._evaluate[episodes] = evaluation.make_evaluate(
          self.agent, self.env, episodes, self.eval_max_steps
      )
    returns, done = self._evaluate[episodes](
        self.agent.actor_params(state.agent_state), key
    )
    return jax.device_get((returns[None], done[None]))

  def close(self) -> None:
    pass  # the threads live within `run_segment` and are joined there


def check_actors(config, loop: str) -> int:
  """K from the config, checked against num_envs and num_seeds."""
  k = config.num_actors
  if k < 1:
    raise UserError(
        f"config.num_actors={k} is not allowed: the {loop} loop "
        "needs K >= 1 threads"
    )
  if config.num_seeds != 1:
    raise UserError(
        f"config.loop={loop!r} runs one seed per process: set "
        "--config.num_seeds=1 (and --config.seed for others)"
    )
  return k


def build(config, task: loops.Task, make_agent) -> HogwildLoop:
  """K actor-learner threads on a functional task (loops.py)."""
  k = check_actors(config, "hogwild")
  if task.env is None:
    raise UserError(
        f"config.loop='hogwild' steps functional tasks in its "
        f"threads; {task.name!r} is a stateful dm_env task: use "
        "config.loop='sebulba' or 'host'"
    )
  if config.num_envs % k:
    raise UserError(
        f"config.num_envs={config.num_envs} must be a multiple "
        f"of config.num_actors={k} (each thread steps num_envs / "
        "num_actors environments)"
    )
  per_iteration = config.num_envs * config.rollout_length  # all threads
  iterations = loops.iterations_per_segment(config, per_iteration)
  # Every thread makes `iterations` updates per segment: K x iterations
  # learn calls on the one shared state.
  run = loops.run_info(
      config,
      env_steps_per_segment=per_iteration * iterations,
      learn_calls_per_segment=k * iterations,
  )
  agent = loops.make_agent_for(make_agent, config, task.specs, run)
  loops.require_split_update(agent, "hogwild")
  return HogwildLoop(
      agent=agent,
      env=task.env,
      num_envs=config.num_envs,
      num_actors=k,
      rollout_length=config.rollout_length,
      iterations_per_segment=iterations,
      lock=config.hogwild_lock,
      eval_max_steps=config.eval_max_steps,
  )
