"""The host loop: the same jitted `act` / `learn` against a stateful
`dm_env.Environment` (bsuite's, or anything else) that cannot be traced.

Each iteration steps one environment `rollout_length` times on the host,
calling the jitted `act` once per step, then calls the jitted `learn` on the
[T+1, 1] trajectory, exactly the layout the compiled loop builds. `learn` runs
under `vmap` with the `device` axis (size 1), so agents need no special case.

Checkpoints hold the agent state and keys; a stateful environment cannot be
saved, so a resumed host-loop run restarts its environment at a new episode
(it is therefore not bitwise identical to an uninterrupted run, unlike the
compiled loop).

`HostActor` (one environment stepped on the host, one [T+1, 1] trajectory per
call) is shared with the Sebulba loop's host actors (sebulba.py).
"""

from __future__ import annotations

import functools
from typing import Any

import chex
import dm_env
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from agents import types
from agents.lib import cpu_threefry
from agents.runtime import evaluation
from agents.runtime import loops
from agents.runtime import rollout as rollout_lib
from agents.runtime.errors import UserError
from environments import base


@struct.dataclass
class HostState:
  agent_state: Any  # leading [1] axis (the device axis)
  actor_key: chex.PRNGKey
  learn_key: chex.PRNGKey
  iteration: chex.Array


def specs_of(environment: dm_env.Environment) -> types.EnvSpecs:
  obs = environment.observation_spec()
  obs = dm_env.specs.Array(obs.shape, np.float32, name="observation")
  action = environment.action_spec()
  if isinstance(action, dm_env.specs.DiscreteArray):  # bsuite says int64
    action = dm_env.specs.DiscreteArray(
        action.num_values, np.int32, name=action.name
    )
  return types.EnvSpecs(obs, action)


class HostActor:
  """B stateful environments stepped on the host with one jitted `act`.

  `rollout(actor_params, actor_key)` steps them `rollout_length` times and
  returns the [T+1, B] trajectory (numpy; `extras` the list of `act`
  outputs [B, ...], still on device), the returns of the episodes that
  finished and the next actor key. The running episodes carry over between
  calls. One `act` call (vmapped over the B environments) and one
  device-to-host copy of the B actions per step, whatever B is: Podracer's
  batched acting, which amortises the dispatch over the environments (the
  host loop uses B = 1; Sebulba's actor threads B = num_envs / K).
  """

  def __init__(
      self,
      agent: types.Agent,
      environment: dm_env.Environment | list[dm_env.Environment],
      rollout_length: int,
      actor_state_key: chex.PRNGKey,
  ):
    self.agent = agent
    if isinstance(environment, dm_env.Environment):
      environment = [environment]
    self.environments = list(environment)
    self.environment = self.environments[0]
    self.num_envs = len(self.environments)
    self.specs = specs_of(self.environment)
    self.rollout_length = rollout_length
    self._actor_state_key = actor_state_key
    batched_act = jax.vmap(
        functools.partial(agent.act, evaluation=False), in_axes=(None, 0, 0, 0)
    )
    b = self.num_envs

    def per_env_keys(key):  # B = 1: the key itself (the unbatched stream)
      return key[None] if b == 1 else jax.random.split(key, b)

    def act(actor_params, actor_state, timestep, key):
      key, act_key = jax.random.split(key)
      return key, batched_act(
          actor_params, actor_state, timestep, per_env_keys(act_key)
      )

    # One dispatch per step of the B environments: acting and the key split.
    self._act = jax.jit(act)
    self._initial_actor_state = jax.jit(
        lambda key: jax.vmap(agent.initial_actor_state)(per_env_keys(key))
    )
    self.restart()

  def restart(self) -> None:
    """The next rollout starts new episodes (e.g. after evaluation)."""
    self._timesteps = None
    self._actor_state = None
    self._episode_returns = [0.0] * self.num_envs

  def rollout(self, actor_params, actor_key):
    envs, T, B = self.environments, self.rollout_length, self.num_envs
    if self._timesteps is None:
      self._timesteps = [evaluation.dm_env_timestep(e.reset()) for e in envs]
      self._actor_state = self._initial_actor_state(self._actor_state_key)
    initial_actor_state = self._actor_state
    # The [T+1, B] chunk is written in place, step by step, into fresh
    # host buffers (fresh each time: the device may alias host memory).
    step_type = np.empty((T + 1, B), np.int32)
    reward = np.empty((T + 1, B), np.float32)
    discount = np.empty((T + 1, B), np.float32)
    observation = np.empty(
        (T + 1, B, *self.specs.observation.shape), np.float32
    )
    actions = np.empty((T, B), self.specs.action.dtype)
    extras, returns = [], []
    timesteps = self._timesteps
    for t in range(T + 1):
      for i, timestep in enumerate(timesteps):
        step_type[t, i] = timestep.step_type
        reward[t, i] = timestep.reward
        discount[t, i] = timestep.discount
        observation[t, i] = timestep.observation
      if t == T:
        break
      timestep = base.TimeStep(
          step_type=step_type[t],
          reward=reward[t],
          discount=discount[t],
          observation=observation[t],
      )
      actor_key, (action, self._actor_state, extra) = self._act(
          actor_params, self._actor_state, timestep, actor_key
      )
      actions[t] = action  # waits for `act`: one copy of the B actions
      for i, env in enumerate(envs):
        timesteps[i] = evaluation.dm_env_timestep(env.step(actions[t, i]))
        if timesteps[i].step_type == base.FIRST:
          self._episode_returns[i] = 0.0
        else:
          self._episode_returns[i] += float(timesteps[i].reward)
          if timesteps[i].step_type == base.LAST:
            returns.append(self._episode_returns[i])
      extras.append(extra)
    self._timesteps = timesteps
    trajectory = types.Trajectory(
        timestep=base.TimeStep(
            step_type=step_type,
            reward=reward,
            discount=discount,
            observation=observation,
        ),
        action=actions,
        extras=extras,
        actor_state=jax.tree.map(np.asarray, initial_actor_state),
    )
    return trajectory, returns, actor_key


def stack_extras(trajectory: types.Trajectory) -> types.Trajectory:
  """`extras` (a list of T per-step `act` outputs [B, ...]) -> [T, B, ...]
  arrays."""
  return trajectory.replace(
      extras=jax.tree.map(lambda *xs: jnp.stack(xs), *trajectory.extras)
  )


def split_over_devices(
    trajectory: types.Trajectory, num_devices: int
) -> types.Trajectory:
  """A [T+1, B] trajectory (`extras` stacked) -> [D, T+1, B / D]: each
  device's block of environments, in order."""

  def to_devices(x):  # [time, B, ...] -> [D, time, B / D, ...]
    x = jnp.reshape(
        x, (x.shape[0], num_devices, x.shape[1] // num_devices, *x.shape[2:])
    )
    return jnp.swapaxes(x, 0, 1)

  return trajectory.replace(
      timestep=jax.tree.map(to_devices, trajectory.timestep),
      action=to_devices(trajectory.action),
      extras=jax.tree.map(to_devices, trajectory.extras),
      # [B, ...] (no time axis): a time axis of 1 to split it the same way
      actor_state=jax.tree.map(
          lambda x: to_devices(x[None])[:, 0], trajectory.actor_state
      ),
  )


def make_learn_step(
    agent: types.Agent, *, stack: bool, mesh=None, presplit: bool = False
):
  """The jitted `(agent_state [D, ...], trajectory, learn_key) -> (agent_state,
  metrics, next learn_key, actor params)` of a loop that learns on the host's
  thread (host loop, Sebulba): one dispatch per iteration. With `stack`, the
  trajectory's `extras` is the list of `act` outputs, still on device, stacked
  here rather than fetched to the host and sent back. The agent state is
  donated. Without `mesh` the device axis is a size-1 vmap (D = 1); with a
  mesh of D devices (Sebulba's learner devices) `learn` is shard_mapped over
  them: the [T+1, B] trajectory is split along its environment axis (B / D
  each), every device holds a replica of the agent state (its own replay)
  and the agent averages its gradients over `types.DEVICE_AXIS`, as in the
  compiled loop (anakin.py). With `presplit` (a mesh spanning several
  processes) the trajectory arrives already split, [D, T+1, B / D] with
  `extras` stacked (`split_over_devices`), as one global array whose blocks
  each process supplied. Actor params are device 0's.
  """
  if mesh is None:
    learn = jax.vmap(agent.learn, axis_name=types.DEVICE_AXIS)
  else:
    from agents.runtime import anakin  # pylint: disable=g-import-not-at-top

    def local(agent_state, trajectory, key):  # this device's block
      agent_state, trajectory, key = jax.tree.map(
          lambda x: x[0], (agent_state, trajectory, key)
      )
      agent_state, metrics = agent.learn(agent_state, trajectory, key)
      return jax.tree.map(lambda x: x[None], (agent_state, metrics))

    spec = jax.sharding.PartitionSpec(types.DEVICE_AXIS)
    learn = anakin.shard_map(
        local, mesh, in_specs=(spec, spec, spec), out_specs=(spec, spec)
    )

  def learn_step(agent_state, trajectory, learn_key):
    num_devices = jax.tree.leaves(agent_state)[0].shape[0]
    if not presplit:
      if stack:
        trajectory = stack_extras(trajectory)
      trajectory = split_over_devices(trajectory, num_devices)
    learn_key, key = jax.random.split(learn_key)
    agent_state, metrics = learn(
        agent_state,
        trajectory,
        jnp.broadcast_to(key[None], (num_devices, *key.shape)),
    )
    actor_params = agent.actor_params(jax.tree.map(lambda x: x[0], agent_state))
    return agent_state, metrics, learn_key, actor_params

  return jax.jit(learn_step, donate_argnums=0)


def segment_summary(metrics: list, returns: list) -> dict[str, np.ndarray]:
  """Per-learn-call metrics and finished episodes' returns -> the loop
  interface's per-seed metrics (one seed: arrays of shape [1])."""
  metrics = jax.device_get(metrics)  # one transfer per segment
  summary = {k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]}
  summary["all_finite"] = float(
      all(np.all(np.isfinite(m[k])) for m in metrics for k in m)
  )
  summary["episodes"] = float(len(returns))
  summary["episode_return_mean"] = float(np.mean(returns)) if returns else 0.0
  return {k: np.asarray([v], np.float32) for k, v in summary.items()}


class HostLoop:
  """Drives a `dm_env.Environment` with an agent's jitted functions."""

  num_devices = 1

  def __init__(
      self,
      agent: types.Agent,
      environment: dm_env.Environment,
      rollout_length: int,
      iterations_per_segment: int,
      seed: int = 0,
  ):
    cpu_threefry.install_for_runtime()  # before anything here compiles
    self.agent = agent
    self.environment = environment
    self.specs = specs_of(environment)
    self.rollout_length = rollout_length
    self.iterations_per_segment = iterations_per_segment
    self.env_steps_per_segment = rollout_length * iterations_per_segment
    self.actor = HostActor(
        agent,
        environment,
        rollout_length,
        jax.random.fold_in(
            jax.random.PRNGKey(seed), rollout_lib.ACTOR_STATE_STREAM
        ),
    )
    self._actor_params = jax.jit(
        lambda s: agent.actor_params(jax.tree.map(lambda x: x[0], s))
    )
    self._learn_step = make_learn_step(agent, stack=True)

  def init(self, seeds) -> HostState:
    seed = seeds[0] if isinstance(seeds, (list, tuple)) else seeds
    agent_key, actor_key, learn_key = jax.random.split(
        jax.random.PRNGKey(seed), 3
    )
    # jit gives every leaf its own buffer (init may alias params and target
    # params), which donation in `learn` requires.
    agent_state = jax.jit(
        jax.vmap(lambda key: self.agent.init(key, self.specs))
    )(agent_key[None])
    return HostState(
        agent_state=agent_state,
        actor_key=actor_key,
        learn_key=learn_key,
        iteration=jnp.zeros((), jnp.int32),
    )

  def abstract_state(self, num_seeds: int = 1) -> HostState:
    del num_seeds  # always one
    return jax.eval_shape(lambda: self.init([0]))

  def prepare(self, state: HostState) -> bool:
    del state  # act and learn compile on the first segment
    return False

  def run_segment(self, state: HostState):
    returns, metrics = [], []
    actor_key, learn_key = state.actor_key, state.learn_key
    agent_state = state.agent_state
    actor_params = self._actor_params(agent_state)
    for _ in range(self.iterations_per_segment):
      trajectory, finished, actor_key = self.actor.rollout(
          actor_params, actor_key
      )
      returns.extend(finished)
      agent_state, step_metrics, learn_key, actor_params = self._learn_step(
          agent_state, trajectory, learn_key
      )
      metrics.append(step_metrics)
    state = HostState(
        agent_state=agent_state,
        actor_key=actor_key,
        learn_key=learn_key,
        iteration=state.iteration + self.iterations_per_segment,
    )
    return state, segment_summary(metrics, returns)

  def agent_states(self, state: HostState):
    return jax.device_get(state.agent_state)  # [seed = 1, ...]

  def evaluate(self, state: HostState, key: chex.PRNGKey, num_episodes: int):
    self.actor.restart()  # evaluation episodes interrupt training's episode
    returns = evaluation.evaluate_on_dm_env(
        self.agent,
        self.environment,
        self._actor_params(state.agent_state),
        key,
        num_episodes,
    )[None]
    return returns, np.ones_like(returns, bool)

  def close(self) -> None:
    pass


def host_task_environment(task: loops.Task, seed: int):
  """A fresh stateful environment of `task`: its dm_env, or the functional
  task wrapped as one (environments.dm_env_adapter.AsDmEnv)."""
  if task.make_host is not None:
    return task.make_host(seed)
  from environments import dm_env_adapter  # pylint: disable=g-import-not-at-top

  return dm_env_adapter.AsDmEnv(task.env, seed)


def build(config, task: loops.Task, make_agent) -> HostLoop:
  """The host loop: one environment, one seed (loops.py)."""
  if config.num_envs != 1 or config.num_seeds != 1:
    raise UserError(
        "config.loop='host' runs one environment and one seed: "
        "set --config.num_envs=1 --config.num_seeds=1"
    )
  if config.get("replay_capacity", 10**9) < config.rollout_length:
    raise UserError("config.replay_capacity must hold one rollout")
  iterations = loops.iterations_per_segment(config, config.rollout_length)
  run = loops.run_info(
      config,
      env_steps_per_segment=config.rollout_length * iterations,
      learn_calls_per_segment=iterations,
  )
  agent = loops.make_agent_for(make_agent, config, task.specs, run)
  return HostLoop(
      agent,
      host_task_environment(task, config.seed),
      config.rollout_length,
      iterations,
      seed=config.seed,
  )
