"""Greedy evaluation with frozen weights, compiled (functional tasks) or on the host.

Parameters are only read: `act(..., evaluation=True)` is called with the given
actor params and nothing is learned, so any adaptation inside an episode comes
from the agent's actor state (e.g. a recurrent core), never from its weights.
"""

from __future__ import annotations

import functools
from typing import Any

import chex
import dm_env
import jax
import jax.numpy as jnp
import numpy as np

from agents import types
from agents.runtime import rollout
from environments import base


def make_evaluate(
    agent: types.Agent, env: base.Environment, num_episodes: int, max_steps: int
):
  """A jitted `(actor_params, key) -> returns [num_episodes]` for one seed.

  Runs `num_episodes` environments in parallel until each finishes its first
  episode (or `max_steps` steps pass, whichever comes first).
  """
  act = jax.vmap(
      functools.partial(agent.act, evaluation=True), in_axes=(None, 0, 0, 0)
  )

  def evaluate(actor_params: Any, key: chex.PRNGKey):
    reset_key, act_key = jax.random.split(key)
    env_state, timestep = jax.vmap(env.reset)(
        jax.random.split(reset_key, num_episodes)
    )
    actor_state = jax.vmap(agent.initial_actor_state)(
        jax.random.split(
            jax.random.fold_in(key, rollout.ACTOR_STATE_STREAM), num_episodes
        )
    )
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    done = jnp.zeros((num_episodes,), bool)

    def cond(carry):
      *_, done, t = carry
      return jnp.logical_and(jnp.logical_not(jnp.all(done)), t < max_steps)

    def body(carry):
      env_state, timestep, actor_state, key, returns, done, t = carry
      key, step_key = jax.random.split(key)
      action, actor_state, _ = act(
          actor_params,
          actor_state,
          timestep,
          jax.random.split(step_key, num_episodes),
      )
      env_state, timestep = jax.vmap(env.step)(env_state, action)
      returns = returns + jnp.where(done, 0.0, timestep.reward)
      done = jnp.logical_or(done, timestep.last())
      return env_state, timestep, actor_state, key, returns, done, t + 1

    carry = (
        env_state,
        timestep,
        actor_state,
        act_key,
        zeros,
        done,
        jnp.zeros((), jnp.int32),
    )
    *_, returns, done, _ = jax.lax.while_loop(cond, body, carry)
    return returns, done

  return jax.jit(evaluate)


def compile_for_seeds(
    agent: types.Agent,
    env: base.Environment,
    num_episodes: int,
    max_steps: int,
    agent_state_shapes,
):
  """The compiled `(agent_state [seed, ...], key) -> (returns, done)` [seed,
  E]: each seed's actor params, then its greedy episodes, in one program."""
  evaluate_one = make_evaluate(agent, env, num_episodes, max_steps)
  evaluate = jax.jit(
      jax.vmap(
          lambda agent_state, key: evaluate_one(
              agent.actor_params(agent_state), key
          ),
          in_axes=(0, None),
      )
  )
  key_shape = jax.eval_shape(lambda: jax.random.PRNGKey(0))
  return evaluate.lower(agent_state_shapes, key_shape).compile()


def dm_env_timestep(ts: dm_env.TimeStep) -> base.TimeStep:
  """A stateful dm_env step as the contract's (unbatched) TimeStep."""
  return base.TimeStep(
      step_type=np.int32(ts.step_type),
      reward=np.float32(0.0 if ts.reward is None else ts.reward),
      discount=np.float32(1.0 if ts.discount is None else ts.discount),
      observation=np.asarray(ts.observation, np.float32),
  )


def evaluate_on_dm_env(
    agent: types.Agent,
    environment: dm_env.Environment,
    actor_params: Any,
    key: chex.PRNGKey,
    num_episodes: int,
) -> np.ndarray:
  """Greedy episodes on a stateful `dm_env.Environment`, on the host."""
  act = jax.jit(functools.partial(agent.act, evaluation=True))
  returns = []
  for _ in range(num_episodes):
    timestep = environment.reset()
    actor_state = agent.initial_actor_state(
        jax.random.fold_in(key, rollout.ACTOR_STATE_STREAM)
    )
    total = 0.0
    while not timestep.last():
      key, step_key = jax.random.split(key)
      action, actor_state, _ = act(
          actor_params, actor_state, dm_env_timestep(timestep), step_key
      )
      timestep = environment.step(np.asarray(action))
      total += float(timestep.reward or 0.0)
    returns.append(total)
  return np.asarray(returns, np.float32)
