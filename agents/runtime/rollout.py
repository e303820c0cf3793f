"""One rollout of `rollout_length` steps of a batch of functional
environments, written once for the loops that trace it (anakin, hogwild,
sebulba's functional actors).

`lax.scan` over steps of `vmap`(act, env.step) over the environments; each
environment has its own action-key stream (split once per step). Returns the
[T+1, B] trajectory (types.Trajectory: step 0 is the carry's last timestep)
and, per step, which episodes finished and their returns.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from agents import types
from environments import base


class Carry(NamedTuple):
  """Per-environment state carried from one rollout to the next ([B, ...])."""

  env_state: base.EnvState
  timestep: base.TimeStep  # the last step seen
  actor_state: Any
  actor_keys: chex.PRNGKey
  episode_return: chex.Array  # return of the running episode so far


# fold_in constant: the stream of actor-state keys (initial_actor_state), in
# every loop and in evaluation, derived from the actor key.
ACTOR_STATE_STREAM = 0xAC7


def initial_carry(
    agent: types.Agent,
    env: base.Environment,
    env_keys: chex.PRNGKey,
    actor_keys: chex.PRNGKey,
    actor_state_keys: chex.PRNGKey,
) -> Carry:
  """Reset environments [B] with their own keys; each actor state from its
  own key (`agent.initial_actor_state(key)`)."""
  env_state, timestep = jax.vmap(env.reset)(env_keys)
  actor_state = jax.vmap(agent.initial_actor_state)(actor_state_keys)
  return Carry(
      env_state=env_state,
      timestep=timestep,
      actor_state=actor_state,
      actor_keys=actor_keys,
      episode_return=jnp.zeros((env_keys.shape[0],), jnp.float32),
  )


def seeded_carry(
    agent: types.Agent,
    env: base.Environment,
    env_key: chex.PRNGKey,
    actor_key: chex.PRNGKey,
    env_ids: chex.Array,
) -> Carry:
  """`initial_carry` for environments `env_ids` (global indices): each gets
  its own reset key, acting key and actor-state key, folded from the loop's
  roots with its index, so a run's streams do not depend on how the
  environments are split over actors or devices."""
  fold = jax.vmap(jax.random.fold_in, (None, 0))
  return initial_carry(
      agent,
      env,
      env_keys=fold(env_key, env_ids),
      actor_keys=fold(actor_key, env_ids),
      actor_state_keys=fold(
          jax.random.fold_in(actor_key, ACTOR_STATE_STREAM), env_ids
      ),
  )


def rollout(
    agent: types.Agent,
    env: base.Environment,
    rollout_length: int,
    actor_params: Any,
    carry: Carry,
) -> tuple[Carry, types.Trajectory, chex.Array, chex.Array]:
  """-> (carry, trajectory [T+1, B], finished [T, B], returns [T, B])."""
  vmapped_act = jax.vmap(
      functools.partial(agent.act, evaluation=False), in_axes=(None, 0, 0, 0)
  )

  def env_step(carry, _):
    env_state, timestep, actor_state, actor_keys, episode_return = carry
    keys = jax.vmap(jax.random.split)(actor_keys)
    actor_keys, act_keys = keys[:, 0], keys[:, 1]
    action, actor_state, extras = vmapped_act(
        actor_params, actor_state, timestep, act_keys
    )
    env_state, next_timestep = jax.vmap(env.step)(env_state, action)
    episode_return = jnp.where(
        next_timestep.first(), 0.0, episode_return + next_timestep.reward
    )
    finished = next_timestep.last()
    carry = (env_state, next_timestep, actor_state, actor_keys, episode_return)
    return carry, (next_timestep, action, extras, finished, episode_return)

  new_carry, (timesteps, actions, extras, finished, returns) = jax.lax.scan(
      env_step, tuple(carry), None, length=rollout_length
  )
  trajectory = types.Trajectory(
      timestep=jax.tree.map(
          lambda first, rest: jnp.concatenate([first[None], rest]),
          carry.timestep,
          timesteps,
      ),
      action=actions,
      extras=extras,
      actor_state=carry.actor_state,
  )
  return Carry(*new_carry), trajectory, finished, returns


def episode_stats(finished: chex.Array, returns: chex.Array) -> dict:
  """Sums over a rollout: finished episodes and their returns."""
  finished = finished.astype(jnp.float32)
  return dict(
      episode_return_sum=jnp.sum(finished * returns), episodes=jnp.sum(finished)
  )
