"""What the three value-based algorithms of Mnih et al. 2016, "Asynchronous
methods for deep reinforcement learning" (ICML) share, written once: one-step
Q-learning (agents/one_step_q.py), one-step Sarsa (one_step_sarsa.py) and
n-step Q-learning (n_step_q.py) differ only in their TD errors.

Shared (Algorithm 1 of the paper and S2 of its supplement):
  Q(s, a; theta)   an MLP Q-network (lib.networks.QNetwork)
  theta^-          a target network, theta^- <- theta whenever the global
                   env-step counter T crosses a multiple of I_target
                   (`target_update_env_steps`; "if T mod I_target == 0"),
                   checked after every optimizer step (`refresh_target`)
  exploration      epsilon-greedy; each actor-learner's final epsilon drawn
                   from {0.1, 0.01, 0.5} with probabilities 0.4, 0.3, 0.3
                   (Section 8 of the supplement) by `initial_actor_state(key)`
                   from the actor's own key (types.Agent, contract item 4),
                   annealed linearly from 1 over the first
                   `epsilon_decay_env_steps` global env steps (the paper's
                   4 million frames, scaled to the run by the config)
  the loss         dtheta = grad sum_t valid_t 1/2 delta_t^2 over each
                   actor's t_max-step chunk ("accumulate gradients"; an action
                   taken at a LAST step is ignored by the task: valid 0),
                   one gradient per actor applied through the shared RMSProp
                   (lib.async_updates, lib.shared_rmsprop)
An algorithm supplies
  td_errors(q [T+1, B, A] online (differentiable), q_target [T+1, B, A],
            trajectory, state, epsilon [B], key) -> delta [T, B]
"""

from __future__ import annotations

from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import ml_collections
import rlax
from flax import struct

from agents import types
from agents.lib import async_updates
from agents.lib import networks
from agents.lib import returns
from agents.lib import shared_rmsprop

# The paper's final-epsilon distribution (supplement, Section 8).
FINAL_EPSILONS = (0.1, 0.01, 0.5)
FINAL_EPSILON_PROBABILITIES = (0.4, 0.3, 0.3)


@struct.dataclass
class AsyncQState:
  params: Any
  target_params: Any
  opt_state: Any  # shared_rmsprop.SharedRMSPropState (g shared by actors)
  env_steps: chex.Array  # int32: the global counter T


@struct.dataclass
class AsyncQActorParams:
  params: Any
  env_steps: chex.Array  # T, for the epsilon schedule


def draw_final_epsilon(key: chex.PRNGKey) -> chex.Array:
  """One actor's final epsilon: 0.1, 0.01, 0.5 w.p. 0.4, 0.3, 0.3."""
  return jax.random.choice(
      key,
      jnp.asarray(FINAL_EPSILONS, jnp.float32),
      p=jnp.asarray(FINAL_EPSILON_PROBABILITIES),
  )


def epsilon(
    final_epsilon: chex.Array, env_steps: chex.Array, decay_env_steps: int
) -> chex.Array:
  """Linear from 1 to `final_epsilon` over `decay_env_steps` global steps."""
  fraction = jnp.minimum(env_steps / max(decay_env_steps, 1), 1.0)
  return 1.0 + fraction * (final_epsilon - 1.0)


def refresh_target(target_update_env_steps: int):
  """`after_step` (lib.async_updates): theta^- <- theta when this step's env
  steps carried the counter T across a multiple of I_target."""

  def after_step(state: AsyncQState, env_steps_before: chex.Array):
    crossed = (
        state.env_steps // target_update_env_steps
        > env_steps_before // target_update_env_steps
    )
    return state.replace(
        target_params=jax.tree.map(
            lambda new, old: jnp.where(crossed, new, old),
            state.params,
            state.target_params,
        )
    )

  return after_step


def make_async_q_agent(
    name: str,
    config: ml_collections.ConfigDict,
    specs: types.EnvSpecs,
    run: types.RunInfo,
    td_errors: Callable[..., chex.Array],
) -> types.Agent:
  """The agent contract around an algorithm's `td_errors` (module doc)."""
  network = networks.QNetwork(
      num_actions=int(specs.action.num_values),
      hidden_sizes=tuple(config.hidden_sizes),
      observation_rank=len(specs.observation.shape),
  )
  per_actor = config.per_actor_updates
  optimizer = shared_rmsprop.from_config(
      config,
      async_updates.optimizer_steps(run, config.rollout_length, per_actor),
  )
  decay = config.epsilon_decay_env_steps

  def init(key, specs):
    params = network.init(key, jnp.zeros(specs.observation.shape, jnp.float32))
    opt_state = optimizer.init(params)._replace(
        learning_rate=shared_rmsprop.initial_learning_rate(config, key)
    )
    return AsyncQState(
        params=params,
        target_params=params,
        opt_state=opt_state,
        env_steps=jnp.zeros((), jnp.int32),
    )

  def actor_params(state: AsyncQState):
    return AsyncQActorParams(state.params, state.env_steps)

  def act(
      params: AsyncQActorParams,
      final_epsilon,
      timestep,
      key,
      evaluation: bool = False,
  ):
    q_values = network.apply(params.params, timestep.observation)
    eps = (
        config.eval_epsilon
        if evaluation
        else epsilon(final_epsilon, params.env_steps, decay)
    )
    action = rlax.epsilon_greedy(eps).sample(key, q_values)
    return action.astype(jnp.int32), final_epsilon, dict(q_values=q_values)

  def loss_fn(params, state: AsyncQState, trajectory: types.Trajectory, key):
    observations = trajectory.timestep.observation
    q = network.apply(params, observations)
    q_target = network.apply(state.target_params, observations)
    eps = epsilon(trajectory.actor_state, state.env_steps, decay)
    delta = td_errors(q, q_target, trajectory, state, eps, key)
    _, _, _, valid = returns.chunk_transitions(
        trajectory.timestep, config.gamma
    )
    valid = valid.astype(jnp.float32)
    # Summed over each actor's chunk (the paper accumulates), averaged over
    # the actors of the gradient (one with per_actor_updates).
    loss = jnp.sum(valid * 0.5 * jnp.square(delta)) / delta.shape[1]
    return loss, dict(
        loss=loss,
        td_error_abs=jnp.sum(valid * jnp.abs(delta))
        / jnp.maximum(valid.sum(), 1.0),
        epsilon=jnp.mean(eps),
        learning_rate=state.opt_state.learning_rate,
    )

  gradients, apply, learn = async_updates.make_learner(
      loss_fn,
      optimizer,
      per_actor=per_actor,
      after_step=refresh_target(config.target_update_env_steps),
  )

  def initial_actor_state(key):
    return draw_final_epsilon(key)

  return types.Agent(
      name=name,
      init=init,
      actor_params=actor_params,
      initial_actor_state=initial_actor_state,
      act=act,
      learn=learn,
      gradients=gradients,
      apply=apply,
  )


def network_q_values(q: chex.Array, actions: chex.Array) -> chex.Array:
  """Q(s_t, a_t) [T, B] from q [T+1, B, A] and actions [T, B]."""
  return jnp.take_along_axis(q[:-1], actions[..., None], axis=-1)[..., 0]
