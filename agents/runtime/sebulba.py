"""Sebulba: actor threads and a learner, decoupled by a bounded queue
(Hessel et al. 2021, "Podracer architectures for scalable reinforcement
learning", section 3.2).

  actors   K = `num_actors` Python threads. Each steps its own B =
           `num_envs / K` environments with the NEWEST actor parameters the
           learner has published: stateful dm_envs (bsuite:..., stepped on
           the host with ONE jitted `act` per step of all B, vmapped over
           them: host_loop.HostActor; Podracer's batched acting, which
           amortises the dispatch and makes every learn call B times as
           many env steps) or functional environments (one jitted rollout
           per trajectory, on the CPU). Each [T+1, B] trajectory goes into
           the queue, tagged (actor, sequence number).
  queue    `queue.Queue(maxsize=queue_size)`: an actor that is ahead of the
           learner blocks on `put` (back-pressure); nothing is dropped or
           duplicated (tests/test_async_loops.py counts it).
  learner  the driver's thread: takes one trajectory at a time, moves it to
           the learner device (`jax.device_put`; the accelerator when there
           is one, jax.local_devices()[0]) and calls the agent's fused `learn`
           (jitted; over D devices, below), then publishes the new actor
           parameters (a reference swap, copied to the actors' device when
           that is another one).
Which parameters an actor uses: with K > 1, the newest published (Podracer's
"recent copy"); with K = 1, exactly those after update j - 1 for its
trajectory j (it waits for them: the actor steps trajectory j while the
learner learns from trajectory j - 1), which makes a one-actor run
deterministic while actor and learner still overlap.
A segment is `iterations_per_segment` learn calls. The actors keep running
between segments (their queue is not part of the checkpoint): a checkpoint
holds the learner's agent state and keys, and a resumed run restarts every
actor's episode, as the host loop does. Actor parameters are as stale as
the queue is long (plus the rollout in progress), so with K > 1 Sebulba is
not deterministic; with K = 1 it is, but resume is not bitwise (the actors'
environments restart).

Agents: any agent (it uses `learn`, not `gradients`/`apply`).
Learner devices: `config.num_devices` = D (0 or 1: one). With D > 1 the
learner shard_maps `learn` over the first D local devices: each trajectory
is split along its environment axis (B / D environments per device), every
device keeps a replica of the agent state and the agent averages gradients
over `types.DEVICE_AXIS` (host_loop.make_learn_step), Podracer's layout.
Several hosts (after `jax.distributed.initialize`; scripts/_cli.py's
multi-host flags): P processes, each with K actor threads on its own
environments and one learner thread; `num_envs` is global (each actor of
each process steps num_envs / (P K) of them, with global environment and
actor indices, so their streams differ) and D is per process. The learn
step is shard_mapped over the global mesh of P x D devices (every process's
first D local ones, `learner_mesh`): each process splits the trajectory it
took from its own queue into its D blocks and these make one global array
(`jax.make_array_from_process_local_data`), so gradients are averaged over
every process's environments. Parameters stay replicated and identical;
each process's actors read its first local replica. Every learn call takes
exactly one trajectory per process, and every process runs the same
segments of the same number of learn calls, so the collectives match and
all stop together; the segment's episode counts and the non-finite flag
are gathered over processes (process_allgather) so that every process
sees the same metrics and stops on the same segment. Process 0 writes
metrics.csv, summary.json and the figure, all processes save each
checkpoint together (orbax), as in the compiled loop (train.py); the keys
in the state are global replicated arrays then.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.experimental import multihost_utils

from agents import types
from agents.lib import cpu_threefry
from agents.runtime import evaluation
from agents.runtime import hogwild
from agents.runtime import host_loop
from agents.runtime import loops
from agents.runtime import rollout as rollout_lib
from agents.runtime.errors import LoopCrashed, UserError

POLL_SECONDS = 0.05  # queue waits poll the stop flag and actor errors


@struct.dataclass
class SebulbaState:
  agent_state: Any  # the learner's, leading [1] (device axis)
  learn_key: chex.PRNGKey
  actor_keys: chex.PRNGKey  # [K]: where each actor's key stream starts
  learn_calls: chex.Array  # int32, trajectories learned from over the run


class _FunctionalActor:
  """`envs` functional environments stepped by one jitted rollout."""

  def __init__(self, agent, env, rollout_length, keys, device):
    env_keys, actor_keys, state_keys = keys
    self._device = device
    self._carry = jax.device_put(
        jax.jit(
            lambda: rollout_lib.initial_carry(
                agent, env, env_keys, actor_keys, state_keys
            )
        )(),
        device,
    )

    def step(actor_params, carry):
      carry, trajectory, finished, returns = rollout_lib.rollout(
          agent, env, rollout_length, actor_params, carry
      )
      return carry, trajectory, rollout_lib.episode_stats(finished, returns)

    self._step = jax.jit(step)

  def rollout(self, actor_params):
    self._carry, trajectory, stats = self._step(actor_params, self._carry)
    stats = jax.device_get(stats)
    return (
        trajectory,
        float(stats["episode_return_sum"]),
        float(stats["episodes"]),
    )


class _HostActor:
  """B stateful dm_env environments, one jitted `act` per step of all B
  (host_loop.HostActor)."""

  def __init__(self, agent, environments, rollout_length, key):
    state_key, self._key = jax.random.split(key)
    self._actor = host_loop.HostActor(
        agent, environments, rollout_length, state_key
    )

  def rollout(self, actor_params):
    trajectory, returns, self._key = self._actor.rollout(
        actor_params, self._key
    )
    return trajectory, float(sum(returns)), float(len(returns))


class SebulbaLoop:
  """K actor threads -> bounded queue -> one learner (on D devices)."""

  def __init__(
      self,
      agent: types.Agent,
      task: loops.Task,
      *,
      num_actors: int,
      envs_per_actor: int,
      rollout_length: int,
      iterations_per_segment: int,
      queue_size: int,
      seed: int,
      eval_max_steps: int = 1000,
      num_devices: int = 1,
  ):
    cpu_threefry.install_for_runtime()  # before anything here compiles
    self.agent, self.task = agent, task
    self.num_actors = num_actors
    self.envs_per_actor = envs_per_actor
    self.rollout_length = rollout_length
    self.iterations_per_segment = iterations_per_segment
    # Several processes (jax.distributed): each learn call takes one
    # trajectory from every process's queue.
    self.num_processes = jax.process_count()
    self.process_index = jax.process_index()
    self._multiprocess = self.num_processes > 1
    self.env_steps_per_segment = (
        iterations_per_segment
        * self.num_processes
        * envs_per_actor
        * rollout_length
    )
    self.queue_size = queue_size
    self.seed = seed
    self.eval_max_steps = eval_max_steps
    self.local_devices = num_devices  # learner devices of this process
    self.num_devices = num_devices * self.num_processes  # of the mesh
    self.learner_device = jax.local_devices()[0]
    # D > 1 or several processes: the learner's devices (every process's
    # first D local ones), each learning from B / D environments of its
    # process's trajectory (host_loop.make_learn_step).
    self._mesh = None
    if self.num_devices > 1:
      self._mesh = learner_mesh(num_devices)
    # Where a trajectory goes before `learn` (which splits it over the mesh).
    self._trajectory_placement = (
        self.learner_device
        if self._mesh is None
        else jax.sharding.NamedSharding(
            self._mesh, jax.sharding.PartitionSpec()
        )
    )
    self.actor_device = jax.local_devices(backend="cpu")[0]
    self.received: list[tuple[int, int]] = []  # (actor, sequence) learned
    self.produced = [0] * num_actors  # trajectories each actor queued
    self._queue: queue.Queue | None = None
    self._threads: list[threading.Thread] = []
    self._stop = threading.Event()
    self._errors: list[tuple[int, BaseException]] = []
    # Published actor params by version (on the actor device): version v is
    # the params after the learner's v-th update since the actors started.
    self._versions: dict[int, Any] = {}
    self._version = 0
    self._published = threading.Condition()
    self._evaluate = {}
    stack = task.make_host is not None
    self._learn_step = host_loop.make_learn_step(
        agent, stack=stack, mesh=self._mesh, presplit=self._multiprocess
    )
    # Several processes: each splits its trajectory over its D devices here
    # and the blocks of all processes make one global array.
    self._split_locally = jax.jit(
        lambda t: host_loop.split_over_devices(
            host_loop.stack_extras(t) if stack else t, num_devices
        )
    )
    self._actor_params = jax.jit(
        lambda s: agent.actor_params(jax.tree.map(lambda x: x[0], s))
    )
    self._restarts = -1

  # ---- state -----------------------------------------------------------------
  def _sharding(self, *spec) -> jax.sharding.NamedSharding:
    return jax.sharding.NamedSharding(
        self._mesh, jax.sharding.PartitionSpec(*spec)
    )

  def _initial_values(self, seed) -> SebulbaState:
    """The state of `seed` before it is placed (agent state [1, ...])."""
    agent_key, _, actor_key, learn_key = jax.random.split(
        jax.random.PRNGKey(seed), 4
    )
    agent_state = jax.jit(
        jax.vmap(lambda key: self.agent.init(key, self.task.specs))
    )(agent_key[None])
    # Actor keys of every process's actors (global actor index p * K + k).
    actor_keys = jax.vmap(jax.random.fold_in, (None, 0))(
        actor_key, jnp.arange(self.num_processes * self.num_actors)
    )
    return SebulbaState(
        agent_state=agent_state,
        learn_key=learn_key,
        actor_keys=actor_keys,
        learn_calls=jnp.zeros((), jnp.int32),
    )

  def init(self, seeds: list[int]) -> SebulbaState:
    state = self._initial_values(seeds[0])
    agent_state, learn_key = state.agent_state, state.learn_key
    actor_keys, learn_calls = state.actor_keys, state.learn_calls
    if self._mesh is None:
      agent_state = jax.device_put(agent_state, self.learner_device)
    else:  # a replica per learner device (the same parameters)
      agent_state = jax.jit(
          lambda s: jax.tree.map(
              lambda x: jnp.broadcast_to(x, (self.num_devices, *x.shape[1:])),
              s,
          ),
          out_shardings=self._sharding(types.DEVICE_AXIS),
      )(
          jax.device_get(agent_state)
      )  # (host data: the same on every process)
    if self._multiprocess:  # the keys too: global arrays, replicated
      learn_key, actor_keys, learn_calls = (
          jax.make_array_from_process_local_data(
              self._sharding(), np.asarray(x), x.shape
          )
          for x in (learn_key, actor_keys, learn_calls)
      )
    return SebulbaState(
        agent_state=agent_state,
        learn_key=learn_key,
        actor_keys=actor_keys,
        learn_calls=learn_calls,
    )

  def abstract_state(self, num_seeds: int = 1) -> SebulbaState:
    del num_seeds  # one
    shapes = jax.eval_shape(lambda: self._initial_values(0))
    if self._mesh is None:
      return shapes
    # Restored over the learner's devices, as `init` places the agent state
    # (a replica per device; over several processes, the keys replicated).
    with_sharding = lambda sharding: (
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding)
    )
    replicas = self._sharding(types.DEVICE_AXIS)
    shapes = shapes.replace(
        agent_state=jax.tree.map(
            lambda s: jax.ShapeDtypeStruct(
                (self.num_devices, *s.shape[1:]), s.dtype, sharding=replicas
            ),
            shapes.agent_state,
        )
    )
    if not self._multiprocess:
      return shapes
    replicated = with_sharding(self._sharding())
    return shapes.replace(
        learn_key=replicated(shapes.learn_key),
        actor_keys=replicated(shapes.actor_keys),
        learn_calls=replicated(shapes.learn_calls),
    )

  def _local_actor_params(self, agent_state):
    """Actor params from this process's first replica (on its device)."""
    return self._actor_params(
        jax.tree.map(lambda x: x.addressable_data(0), agent_state)
    )

  def prepare(self, state: SebulbaState) -> bool:
    del state  # act, rollouts and learn compile on first use
    return False

  # ---- actors ----------------------------------------------------------------
  def _make_actor(self, k: int, actor_key):
    """Actor k of this process (global actor index `k`)."""
    b = self.envs_per_actor
    if self.task.make_host is not None:
      environments = [
          host_loop.host_task_environment(self.task, self.seed * 1000 + i)
          for i in range(k * b, (k + 1) * b)  # global environment indices
      ]
      return _HostActor(
          self.agent, environments, self.rollout_length, actor_key
      )
    env_ids = jnp.arange(k * b, (k + 1) * b)  # global environment indices
    _, env_key, actor_root, _ = jax.random.split(
        jax.random.PRNGKey(self.seed), 4
    )
    fold = jax.vmap(jax.random.fold_in, (None, 0))
    keys = (
        fold(jax.random.fold_in(env_key, self._restarts), env_ids),
        fold(actor_key, env_ids),
        fold(
            jax.random.fold_in(actor_root, rollout_lib.ACTOR_STATE_STREAM),
            env_ids,
        ),
    )
    return _FunctionalActor(
        self.agent, self.task.env, self.rollout_length, keys, self.actor_device
    )

  def _actor_thread(self, k: int, actor):
    sequence = 0
    try:
      while not self._stop.is_set():
        actor_params = self._params_for(sequence)
        if actor_params is None:  # stopped while waiting
          return
        trajectory, return_sum, episodes = actor.rollout(actor_params)
        item = (k, sequence, trajectory, return_sum, episodes)
        while not self._stop.is_set():
          try:
            self._queue.put(item, timeout=POLL_SECONDS)
            self.produced[k] += 1
            sequence += 1
            break
          except queue.Full:
            continue
    except BaseException as e:  # pylint: disable=broad-except
      self._errors.append((k, e))
      self._stop.set()

  def _start(self, state: SebulbaState) -> None:
    """Starts the actors (once; again after `close`) with the state's
    actor parameters."""
    self._restarts += 1
    self._publish(self._local_actor_params(state.agent_state), restart=True)
    self._queue = queue.Queue(maxsize=self.queue_size)
    self._stop.clear()
    self._errors.clear()
    actor_keys = jax.vmap(jax.random.fold_in, (0, None))(
        state.actor_keys.addressable_data(0), self._restarts
    )
    first = self.process_index * self.num_actors  # global actor index
    actors = [
        self._make_actor(first + k, actor_keys[first + k])
        for k in range(self.num_actors)
    ]
    self._threads = [
        threading.Thread(
            target=self._actor_thread,
            args=(k, actors[k]),
            name=f"sebulba-actor-{k}",
            daemon=True,
        )
        for k in range(self.num_actors)
    ]
    for thread in self._threads:
      thread.start()

  def _publish(self, actor_params, restart: bool = False) -> None:
    if self._mesh is not None or self.learner_device != self.actor_device:
      # (else by reference: the learner's output is on the actors' device)
      actor_params = jax.device_put(actor_params, self.actor_device)
    with self._published:
      self._version = 0 if restart else self._version + 1
      if restart:
        self._versions.clear()
      self._versions[self._version] = actor_params
      for old in [v for v in self._versions if v < self._version - 2]:
        del self._versions[old]
      self._published.notify_all()

  def _params_for(self, sequence: int):
    """The actor params for an actor's trajectory number `sequence`: the
    newest (K > 1), or exactly version sequence - 1 (K = 1); None if the
    loop stops meanwhile."""
    with self._published:
      if self.num_actors > 1:
        return self._versions[self._version]
      wanted = max(0, sequence - 1)
      while self._version < wanted:
        if self._stop.is_set():
          return None
        self._published.wait(POLL_SECONDS)
      return self._versions[wanted]

  def _next_item(self):
    while True:
      if self._errors:
        k, e = self._errors[0]
        self.close()
        raise LoopCrashed(
            f"sebulba actor thread {k} of {self.num_actors} crashed: "
            f"{type(e).__name__}: {e}; the run stopped"
        ) from e
      try:
        return self._queue.get(timeout=POLL_SECONDS)
      except queue.Empty:
        continue

  # ---- the learner -----------------------------------------------------------
  def run_segment(self, state: SebulbaState):
    if not self._threads:
      self._start(state)
    agent_state, learn_key = state.agent_state, state.learn_key
    metrics, return_sum, episodes = [], 0.0, 0.0
    for _ in range(self.iterations_per_segment):
      k, sequence, trajectory, item_sum, item_episodes = self._next_item()
      self.received.append((k, sequence))
      return_sum += item_sum
      episodes += item_episodes
      agent_state, step_metrics, learn_key, actor_params = self._learn_step(
          agent_state, self._to_learner(trajectory), learn_key
      )
      if self._multiprocess:  # this process's replica, its device's metrics
        actor_params = self._local_actor_params(agent_state)
        step_metrics = jax.tree.map(
            lambda x: x.addressable_data(0), step_metrics
        )
      self._publish(actor_params)
      metrics.append(step_metrics)
    summary = host_loop.segment_summary(metrics, [])
    if self._multiprocess:  # the episodes of every process's actors
      totals = multihost_utils.process_allgather(
          np.asarray([return_sum, episodes, summary["all_finite"][0]])
      )
      return_sum, episodes = float(totals[:, 0].sum()), float(
          totals[:, 1].sum()
      )
      summary["all_finite"] = np.asarray([totals[:, 2].min()], np.float32)
    summary["episodes"] = np.asarray([episodes], np.float32)
    summary["episode_return_mean"] = np.asarray(
        [return_sum / max(episodes, 1.0)], np.float32
    )
    summary["queue_length"] = np.asarray([self._queue.qsize()], np.float32)
    state = SebulbaState(
        agent_state=agent_state,
        learn_key=learn_key,
        actor_keys=state.actor_keys,
        learn_calls=state.learn_calls + self.iterations_per_segment,
    )
    return state, summary

  def _to_learner(self, trajectory):
    """A trajectory of this process -> the learner's input: on the learner
    device (or mesh), or (several processes) this process's blocks
    [D, T+1, B / D] of the global [P * D, T+1, B / D] array."""
    if not self._multiprocess:
      return jax.device_put(trajectory, self._trajectory_placement)
    blocks = jax.device_get(self._split_locally(trajectory))
    sharding = self._sharding(types.DEVICE_AXIS)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(
            sharding, x, (self.num_devices, *x.shape[1:])
        ),
        blocks,
    )

  def close(self) -> None:
    """Stops the actors and joins them; trajectories still queued are
    counted in `left_in_queue` and dropped."""
    self._stop.set()
    for thread in self._threads:
      thread.join()
    self._threads = []
    self.left_in_queue = self._queue.qsize() if self._queue else 0

  # ---- evaluation ------------------------------------------------------------
  def agent_states(self, state: SebulbaState):
    # [seed = 1, ...]: this process's first learner device's replica
    return jax.device_get(
        jax.tree.map(lambda x: x.addressable_data(0), state.agent_state)
    )

  def evaluate(self, state: SebulbaState, key, episodes: int):
    actor_params = self._local_actor_params(state.agent_state)
    if self.task.make_host is not None:
      returns = evaluation.evaluate_on_dm_env(
          self.agent,
          host_loop.host_task_environment(self.task, self.seed),
          actor_params,
          key,
          episodes,
      )[None]
      return returns, np.ones_like(returns, bool)
    if episodes not in self._evaluate:
      self._evaluate[episodes] = evaluation.make_evaluate(
          self.agent, self.task.env, episodes, self.eval_max_steps
      )
    returns, done = self._evaluate[episodes](actor_params, key)
    return jax.device_get((returns[None], done[None]))


def learner_mesh(local_devices: int) -> jax.sharding.Mesh:
  """The learner's mesh: the first `local_devices` local devices of every
  process, process by process (so each process's blocks are contiguous)."""
  devices = []
  for process in range(jax.process_count()):
    own = sorted(
        (d for d in jax.devices() if d.process_index == process),
        key=lambda d: d.id,
    )
    devices.extend(own[:local_devices])
  return jax.sharding.Mesh(np.asarray(devices), (types.DEVICE_AXIS,))


def build(config, task: loops.Task, make_agent) -> SebulbaLoop:
  """K actor threads and a learner (loops.py); over P processes, K actor
  threads and a learner in each."""
  k = hogwild.check_actors(config, "sebulba")
  num_devices = max(config.get("num_devices", 0), 1)  # per process
  if num_devices > jax.local_device_count():
    raise UserError(
        f"config.num_devices={num_devices} but only "
        f"{jax.local_device_count()} device(s) are visible"
    )
  processes = jax.process_count()
  if config.num_envs % (k * processes):
    raise UserError(
        f"config.num_envs={config.num_envs} must be a multiple "
        f"of config.num_actors={k}"
        + (f" x {processes} processes" if processes > 1 else "")
        + " (each actor thread steps num_envs / num_actors environments"
        + (", per process)" if processes > 1 else ")")
    )
  envs_per_actor = config.num_envs // (k * processes)
  if envs_per_actor % num_devices:
    raise UserError(
        f"config.loop='sebulba' splits each actor thread's "
        f"{envs_per_actor} environments (num_envs / num_actors) over "
        f"config.num_devices={num_devices} learner devices: make it a "
        "multiple of num_devices"
    )
  per_trajectory = envs_per_actor * config.rollout_length
  if config.get("replay_capacity", 10**9) < per_trajectory:
    raise UserError(
        "config.replay_capacity must hold one trajectory "
        f"({per_trajectory} transitions)"
    )
  per_call = per_trajectory * processes  # one trajectory from each process
  iterations = loops.iterations_per_segment(config, per_call)
  run = loops.run_info(
      config,
      env_steps_per_segment=per_call * iterations,
      learn_calls_per_segment=iterations,
      num_devices=num_devices * processes,
  )
  agent = loops.make_agent_for(make_agent, config, task.specs, run)
  return SebulbaLoop(
      agent,
      task,
      num_actors=k,
      envs_per_actor=envs_per_actor,
      rollout_length=config.rollout_length,
      iterations_per_segment=iterations,
      queue_size=config.queue_size,
      seed=config.seed,
      eval_max_steps=config.eval_max_steps,
      num_devices=num_devices,
  )
