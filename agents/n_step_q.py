"""Asynchronous n-step Q-learning: Mnih et al. 2016, "Asynchronous methods
for deep reinforcement learning" (ICML), Algorithm S2 of the supplement.

Per actor-learner and chunk of t_max = `rollout_length` (= 5) steps, the
forward view (Algorithm S2 -> code):
  R = 0                              for terminal s_t
      max_a Q(s_t, a; theta^-)        otherwise (the chunk's last state)
  for i in t-1 .. t_start:  R <- r_i + gamma R
  dtheta <- dtheta + d (R - Q(s_i, a_i; theta))^2 / d theta
      -> G_i = lib.returns.n_step_returns(timestep, v, gamma, lambda=1) with
         v(s) = max_a Q(s, a; theta^-): rlax.lambda_returns over the chunk,
         restarted at every episode boundary inside it (an episode that
         ends by termination bootstraps 0, by truncation v(s_last)), so
         each step's return is the longest n-step return (n <= t_max) that
         stays within its episode and its chunk
  if T mod I_target == 0: theta^- <- theta     (`target_update_env_steps`)
Exploration, the target network, the summed chunk loss and the shared
RMSProp are lib/async_q.py's (shared with one-step Q and Sarsa).
"""

from __future__ import annotations

import chex
import jax.numpy as jnp
import ml_collections

from agents import types
from agents.lib import async_q
from agents.lib import returns


def n_step_targets(
    q_target: chex.Array, trajectory: types.Trajectory, gamma: float
) -> chex.Array:
  """R_i [T, B]: forward-view n-step returns bootstrapped from theta^-."""
  bootstrap = jnp.max(q_target, axis=-1)
  return returns.n_step_returns(trajectory.timestep, bootstrap, gamma, 1.0)


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  def errors(q, q_target, trajectory, state, epsilon, key):
    del state, epsilon, key
    return n_step_targets(
        q_target, trajectory, config.gamma
    ) - async_q.network_q_values(q, trajectory.action)

  return async_q.make_async_q_agent("n_step_q", config, specs, run, errors)
