"""Asynchronous one-step Q-learning: Mnih et al. 2016, "Asynchronous methods
for deep reinforcement learning" (ICML), Algorithm 1.

Per actor-learner and step (Algorithm 1 -> code):
  y = r                                   for terminal s'
      r + gamma max_a' Q(s', a'; theta^-) otherwise
                  (rlax.q_learning with discount gamma * discount(s'): 0 at
                  a termination, gamma at a truncation, so a truncated
                  episode still bootstraps)
  dtheta <- dtheta + d (y - Q(s, a; theta))^2 / d theta
                  accumulated over the actor's chunk of `rollout_length`
                  (= 5, the paper's "I_AsyncUpdate") steps and applied once
                  (`lib.async_q`: sum over the chunk of 1/2 delta^2)
  if T mod I_target == 0: theta^- <- theta     (`target_update_env_steps`)
  each actor's epsilon annealed to its own final epsilon from
  {0.1, 0.01, 0.5} w.p. 0.4/0.3/0.3; shared RMSProp (lib.shared_rmsprop).
Everything but the TD error is shared with one-step Sarsa and n-step Q in
lib/async_q.py.
"""

from __future__ import annotations

import chex
import jax
import ml_collections
import rlax

from agents import types
from agents.lib import async_q
from agents.lib import returns


def td_errors(
    q, q_target, trajectory: types.Trajectory, gamma: float
) -> chex.Array:
  """delta_t = r + gamma d max_a' Q(s', a'; theta^-) - Q(s, a; theta)."""
  r_t, discount_t, _, _ = returns.chunk_transitions(trajectory.timestep, gamma)
  q_learning = jax.vmap(jax.vmap(rlax.q_learning))
  return q_learning(q[:-1], trajectory.action, r_t, discount_t, q_target[1:])


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  def errors(q, q_target, trajectory, state, epsilon, key):
    del state, epsilon, key
    return td_errors(q, q_target, trajectory, config.gamma)

  return async_q.make_async_q_agent("one_step_q", config, specs, run, errors)
