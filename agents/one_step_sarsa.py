"""Asynchronous one-step Sarsa: Mnih et al. 2016, "Asynchronous methods for
deep reinforcement learning" (ICML), Section 4 ("Asynchronous one-step
Sarsa": Algorithm 1 with a different target).

Per actor-learner and step:
  y = r                              for terminal s'
      r + gamma Q(s', a'; theta^-)   otherwise, a' the action taken in s'
                  (rlax.sarsa, discount gamma * discount(s'))
  dtheta <- dtheta + d (y - Q(s, a; theta))^2 / d theta, accumulated over
  the actor's chunk of `rollout_length` (= 5) steps and applied once;
  theta^- <- theta every I_target global steps; per-actor final epsilon
  and shared RMSProp: lib/async_q.py, as one-step Q.
a' in a chunk: for steps 0 .. T-2 it is the next action of the chunk. The
chunk's last step's a' is taken at s_T only in the next chunk, after this
gradient; it is drawn here instead from the same behaviour policy, epsilon-
greedy in Q(s_T, .; theta) with the actor's current epsilon (the learner's
key). Its expectation, the quantity Sarsa's target estimates, is the same;
the drawn a' is not the executed one.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import ml_collections
import rlax

from agents import types
from agents.lib import async_q
from agents.lib import returns


def td_errors(
    q,
    q_target,
    trajectory: types.Trajectory,
    gamma: float,
    last_next_action: chex.Array,
) -> chex.Array:
  """delta_t = r + gamma d Q(s', a'; theta^-) - Q(s, a; theta);
  `last_next_action` [B]: a' of the chunk's last step."""
  r_t, discount_t, _, _ = returns.chunk_transitions(trajectory.timestep, gamma)
  next_actions = jnp.concatenate(
      [trajectory.action[1:], last_next_action[None]]
  )
  sarsa = jax.vmap(jax.vmap(rlax.sarsa))
  return sarsa(
      q[:-1], trajectory.action, r_t, discount_t, q_target[1:], next_actions
  )


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  def errors(q, q_target, trajectory, state, epsilon, key):
    del state
    keys = jax.random.split(key, epsilon.shape[0])
    last_q = jax.lax.stop_gradient(q[-1])
    last_next_action = jax.vmap(
        lambda k, e, qs: rlax.epsilon_greedy(e).sample(k, qs)
    )(keys, epsilon, last_q).astype(trajectory.action.dtype)
    return td_errors(q, q_target, trajectory, config.gamma, last_next_action)

  return async_q.make_async_q_agent(
      "one_step_sarsa", config, specs, run, errors
  )
