"""The compiled training loop ("Anakin", Hessel et al. 2021, "Podracer
architectures for scalable reinforcement learning"), used by every agent.

One iteration (all inside one XLA program):
  rollout  `lax.scan` over `rollout_length` steps of `vmap`(act, env.step) over
           this device's environments, giving a [T+1, B] trajectory;
  learn    `agent.learn(agent_state, trajectory, key)`, gradients averaged over
           the `device` axis.
A *segment* is `lax.scan` over `iterations_per_segment` iterations, `vmap`-ed
over independent seeds and `shard_map`-ped over every device of the mesh (all
local devices by default; all processes' devices after
`jax.distributed.initialize`). Between segments the host logs, checkpoints
and prints progress; nothing touches the host inside a segment.

State layout: every leaf of `LoopState` has leading axes [device, seed, ...]
(environment-batched leaves then [device, seed, env, ...]). Agent states are
replicated over the device axis and kept identical by the averaged gradients.
Randomness: each environment has its own key streams (task, action and
initial actor state),
derived from the seed and the environment's *global* index, so the same seed
gives the same numbers whatever the number of devices; the learn key is
per-seed and identical on every device.
"""

from __future__ import annotations

from concurrent import futures
import dataclasses
import functools
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from agents import types
from agents.lib import cpu_threefry
from agents.runtime import evaluation
from agents.runtime import loops
from agents.runtime import rollout as rollout_lib
from agents.runtime.errors import UserError
from environments import base


@struct.dataclass
class LoopState:
  agent_state: Any
  env_state: base.EnvState  # [B]
  timestep: base.TimeStep  # [B], the last step seen
  actor_state: Any  # [B]
  actor_keys: chex.PRNGKey  # [B] per-environment action keys
  learn_key: chex.PRNGKey  # per seed, same on every device
  episode_return: chex.Array  # [B] return of the running episode so far
  iteration: chex.Array  # int32


def shard_map(f, mesh, in_specs, out_specs):
  """`jax.shard_map` across jax versions (0.10 here, newer on accelerators)."""
  if hasattr(jax, "shard_map"):
    return jax.shard_map(
        f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False
    )
  from jax.experimental.shard_map import shard_map  # pylint: disable=g-import-not-at-top

  return shard_map(
      f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_rep=False
  )


def make_mesh(num_devices: int | None = None) -> Mesh:
  devices = jax.devices()
  if num_devices is not None:
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), (types.DEVICE_AXIS,))


@dataclasses.dataclass(frozen=True)
class AnakinLoop:
  """Compiled rollout + learn for one agent on one functional task."""

  agent: types.Agent
  env: base.Environment
  num_envs: int  # global, over all devices
  rollout_length: int
  iterations_per_segment: int
  mesh: Mesh
  eval_episodes: int = 100
  eval_max_steps: int = 1000
  _cache: dict = dataclasses.field(
      default_factory=dict, compare=False, hash=False, repr=False
  )

  def __post_init__(self):
    cpu_threefry.install_for_runtime()  # before anything here compiles

  @property
  def num_devices(self) -> int:
    return self.mesh.devices.size

  @property
  def envs_per_device(self) -> int:
    return self.num_envs // self.num_devices

  @property
  def env_steps_per_iteration(self) -> int:
    return self.num_envs * self.rollout_length

  @property
  def env_steps_per_segment(self) -> int:
    return self.env_steps_per_iteration * self.iterations_per_segment

  def specs(self) -> types.EnvSpecs:
    return types.EnvSpecs(self.env.observation_spec(), self.env.action_spec())

  # ---- initial state ---------------------------------------------------------
  @staticmethod
  def _seed_keys(seed: chex.Array) -> chex.Array:
    """[agent, env, actor, learn] keys of one seed."""
    return jax.random.split(jax.random.PRNGKey(seed), 4)

  def _init_agent(self, seed: chex.Array) -> Any:
    return self.agent.init(self._seed_keys(seed)[0], self.specs())

  def _init_one_seed(self, seed: chex.Array, agent_state) -> LoopState:
    """The whole global state of one seed: env leaves [num_envs, ...]."""
    _, env_key, actor_key, learn_key = self._seed_keys(seed)
    carry = rollout_lib.seeded_carry(
        self.agent, self.env, env_key, actor_key, jnp.arange(self.num_envs)
    )
    return LoopState(
        agent_state=agent_state,
        env_state=carry.env_state,
        timestep=carry.timestep,
        actor_state=carry.actor_state,
        actor_keys=carry.actor_keys,
        learn_key=learn_key,
        episode_return=carry.episode_return,
        iteration=jnp.zeros((), jnp.int32),
    )

  def _to_device_layout(self, state: LoopState) -> LoopState:
    """[seed, ...] global -> [device, seed, ...] with envs split over devices."""
    d, b = self.num_devices, self.envs_per_device

    def replicate(x):
      return jnp.broadcast_to(x[None], (d, *x.shape))

    def split_envs(x):  # [S, N, ...] -> [D, S, N/D, ...]
      x = jnp.reshape(x, (x.shape[0], d, b, *x.shape[2:]))
      return jnp.swapaxes(x, 0, 1)

    per_env = (
        state.env_state,
        state.timestep,
        state.actor_state,
        state.actor_keys,
        state.episode_return,
    )
    env_state, timestep, actor_state, actor_keys, episode_return = jax.tree.map(
        split_envs, per_env
    )
    return LoopState(
        agent_state=jax.tree.map(replicate, state.agent_state),
        env_state=env_state,
        timestep=timestep,
        actor_state=actor_state,
        actor_keys=actor_keys,
        learn_key=replicate(state.learn_key),
        episode_return=episode_return,
        iteration=replicate(state.iteration),
    )

  def sharding(self) -> NamedSharding:
    return NamedSharding(self.mesh, P(types.DEVICE_AXIS))

  def init_fn(self):
    """A jitted `seeds -> LoopState` placing the state over the mesh."""

    # The agents are initialised with `lax.map`, one seed after the other,
    # not `vmap`: vmapped, the orthogonal initialisers (LSTM recurrent
    # kernel, policy and value heads) become one batched QR, whose LAPACK
    # custom call on XLA:CPU (jax 0.10) splits the batch over the thread pool
    # it runs on and can wait for itself forever (a race: two workers in
    # jax::ParallelBatchMap -> BlockingCounter::Wait, the pool idle; seen
    # with 3-4 seeds). The parameters are bitwise those of the vmapped init,
    # and init runs once.
    def init(seeds):
      agent_states = jax.lax.map(self._init_agent, seeds)
      return self._to_device_layout(
          jax.vmap(self._init_one_seed)(seeds, agent_states)
      )

    return jax.jit(init, out_shardings=self.sharding())

  def init(self, seeds: list[int]) -> LoopState:
    return self.init_fn()(jnp.asarray(seeds, jnp.uint32))

  def abstract_state(self, num_seeds: int) -> LoopState:
    """Shapes, dtypes and shardings of the state, for checkpoint restore."""
    shapes = jax.eval_shape(self.init_fn(), jnp.zeros((num_seeds,), jnp.uint32))
    sharding = self.sharding()
    return jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
        shapes,
    )

  # ---- one iteration on one device, one seed ---------------------------------
  def _iteration(self, state: LoopState, _):
    agent = self.agent
    actor_params = agent.actor_params(state.agent_state)
    carry = rollout_lib.Carry(
        state.env_state,
        state.timestep,
        state.actor_state,
        state.actor_keys,
        state.episode_return,
    )
    carry, trajectory, finished, returns = rollout_lib.rollout(
        agent, self.env, self.rollout_length, actor_params, carry
    )
    learn_key, key = jax.random.split(state.learn_key)
    agent_state, learn_metrics = agent.learn(state.agent_state, trajectory, key)
    new_state = LoopState(
        agent_state=agent_state,
        env_state=carry.env_state,
        timestep=carry.timestep,
        actor_state=carry.actor_state,
        actor_keys=carry.actor_keys,
        learn_key=learn_key,
        episode_return=carry.episode_return,
        iteration=state.iteration + 1,
    )
    return new_state, (
        learn_metrics,
        rollout_lib.episode_stats(finished, returns),
    )

  def _segment_one_seed(self, state: LoopState):
    state, (learn_metrics, episode_stats) = jax.lax.scan(
        self._iteration, state, None, length=self.iterations_per_segment
    )
    episode_stats = jax.tree.map(
        lambda x: jax.lax.psum(jnp.sum(x), types.DEVICE_AXIS), episode_stats
    )
    metrics = dict(
        episode_return_mean=episode_stats["episode_return_sum"]
        / jnp.maximum(episode_stats["episodes"], 1.0),
        episodes=episode_stats["episodes"],
        **jax.tree.map(jnp.mean, learn_metrics),
    )
    # Non-finite check over every learn step of the segment, not only the mean.
    finite = jnp.all(
        jnp.stack(
            [jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(learn_metrics)]
        )
    )
    metrics["all_finite"] = finite.astype(jnp.float32)
    return state, metrics

  def segment_fn(self):
    """A jitted, donated `LoopState -> (LoopState, metrics)` over the mesh.

    metrics: a dict of [device, seed] arrays (identical over devices).
    """

    def local(state):
      state = jax.tree.map(lambda x: x[0], state)  # this device's block
      state, metrics = jax.vmap(self._segment_one_seed)(state)
      add_device_axis = functools.partial(jax.tree.map, lambda x: x[None])
      return add_device_axis(state), add_device_axis(metrics)

    spec = P(types.DEVICE_AXIS)
    sharded = shard_map(
        local, self.mesh, in_specs=(spec,), out_specs=(spec, spec)
    )
    return jax.jit(sharded, donate_argnums=0)

  # ---- the loop interface (agents/runtime/loops.py) -------------------------
  def prepare(self, state: LoopState) -> bool:
    """Compiles the segment for `state`; the greedy evaluation compiles on
    a second thread while the segments run (XLA releases the GIL)."""
    if "segment" in self._cache:
      return True
    self._cache["segment"] = self.segment_fn().lower(state).compile()
    shapes = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), state.agent_state
    )
    compiler = futures.ThreadPoolExecutor(max_workers=1)
    self._cache[("evaluate", self.eval_episodes)] = compiler.submit(
        evaluation.compile_for_seeds,
        self.agent,
        self.env,
        self.eval_episodes,
        self.eval_max_steps,
        shapes,
    )
    compiler.shutdown(wait=False)
    return True

  def run_segment(self, state: LoopState):
    self.prepare(state)
    state, metrics = self._cache["segment"](state)
    return state, fetch_replicated(metrics)

  def agent_states(self, state: LoopState):
    return fetch_replicated(state.agent_state)

  def evaluate(self, state: LoopState, key, episodes: int):
    """Greedy returns and done flags [seed, episodes] (frozen weights)."""
    agent_state = self.agent_states(state)
    compiled = self._cache.get(("evaluate", episodes))
    if compiled is None:
      shapes = jax.tree.map(
          lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), agent_state
      )
      compiled = evaluation.compile_for_seeds(
          self.agent, self.env, episodes, self.eval_max_steps, shapes
      )
    elif isinstance(compiled, futures.Future):
      compiled = compiled.result()
    return jax.device_get(compiled(agent_state, key))

  def close(self) -> None:
    pending = self._cache.get(("evaluate", self.eval_episodes))
    if isinstance(pending, futures.Future):
      pending.cancel()


def _num_devices(config) -> int:
  available = jax.device_count()
  wanted = config.get("num_devices", 0) or available
  if wanted > available:
    raise UserError(
        f"config.num_devices={wanted} but only {available} "
        "device(s) are visible"
    )
  if config.num_envs % wanted:
    raise UserError(
        f"config.num_envs={config.num_envs} must be divisible by "
        f"the number of devices ({wanted})"
    )
  return wanted


def build(config, task: loops.Task, make_agent) -> AnakinLoop:
  """The compiled loop for `config` on a functional task (loops.py)."""
  if task.env is None:
    raise UserError(
        f"config.loop='anakin' compiles functional tasks; "
        f"{task.name!r} is a stateful dm_env task: use "
        "config.loop='host' or 'sebulba'"
    )
  num_devices = _num_devices(config)
  per_device = (config.num_envs // num_devices) * config.rollout_length
  if config.get("replay_capacity", 10**9) < per_device:
    raise UserError(
        f"config.replay_capacity={config.replay_capacity} is "
        f"smaller than one rollout per device ({per_device} "
        "transitions)"
    )
  per_iteration = config.num_envs * config.rollout_length
  iterations = loops.iterations_per_segment(config, per_iteration)
  run = loops.run_info(
      config,
      env_steps_per_segment=per_iteration * iterations,
      learn_calls_per_segment=iterations,
      num_devices=num_devices,
  )
  agent = loops.make_agent_for(make_agent, config, task.specs, run)
  return AnakinLoop(
      agent=agent,
      env=task.env,
      num_envs=config.num_envs,
      rollout_length=config.rollout_length,
      iterations_per_segment=iterations,
      mesh=make_mesh(num_devices),
      eval_episodes=config.eval_episodes,
      eval_max_steps=config.eval_max_steps,
  )


def fetch_replicated(tree: Any) -> Any:
  """Host copy of device-replicated [device, ...] arrays: this process's first shard.

  Works in multi-process runs, where only local shards are addressable.
  """

  def first(x):
    shard = x.addressable_shards[0].data
    return np.asarray(shard)[0]

  return jax.tree.map(first, tree)
