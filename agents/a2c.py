"""A2C: synchronous advantage actor-critic, the A3C algorithm of Mnih et al.
2016, "Asynchronous methods for deep reinforcement learning" (ICML), without
the asynchrony: gradients are averaged over all environments (and over devices
through the `device` axis) instead of applied by asynchronous threads.

Per chunk of t_max = `rollout_length` steps (Algorithm S3):
  R = r_t + gamma r_{t+1} + ... + gamma^{k} V(s_{t+k}; theta_v)   n-step return,
      bootstrapped at the chunk's end and at truncations          -> lib.returns.n_step_returns (rlax.lambda_returns, lambda 1)
  A = R - V(s_t)                                                  (stop-gradient)
  policy loss  = - log pi(a_t | s_t) * A                           -> rlax.policy_gradient_loss
  entropy term = - beta * H(pi(. | s_t))                           -> rlax.entropy_loss
  value loss   = 1/2 (R - V(s_t))^2, weighted by `value_coef`
Actions taken at a LAST step (ignored by the task) are masked out of every term.
Optimizer: shared RMSProp (decay 0.99) in the paper; `optimizer` in the config.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import ml_collections
import optax
import rlax
from flax import struct

from agents import types
from agents.lib import networks
from agents.lib import optimizers
from agents.lib import returns


@struct.dataclass
class A2CState:
  params: chex.ArrayTree
  opt_state: chex.ArrayTree
  env_steps: chex.Array


def make_agent(config: ml_collections.ConfigDict,
               specs: types.EnvSpecs) -> types.Agent:
  network = networks.ActorCritic(
      num_actions=int(specs.action.num_values),
      hidden_sizes=tuple(config.hidden_sizes),
      observation_rank=len(specs.observation.shape))
  optimizer = optimizers.make_optimizer(
      config.optimizer, config.learning_rate, max_grad_norm=config.max_grad_norm,
      rmsprop_decay=config.rmsprop_decay, eps=config.optimizer_eps)

  def init(key, specs):
    params = network.init(key, jnp.zeros(specs.observation.shape, jnp.float32))
    return A2CState(params=params, opt_state=optimizer.init(params),
                    env_steps=jnp.zeros((), jnp.int32))

  def actor_params(state: A2CState):
    return state.params

  def act(params, actor_state, timestep, key, evaluation: bool = False):
    logits, value = network.apply(params, timestep.observation)
    if evaluation:
      action = jnp.argmax(logits, axis=-1)
    else:
      action = jax.random.categorical(key, logits)
    return action.astype(jnp.int32), actor_state, dict(value=value)

  def loss_fn(params, trajectory: types.Trajectory):
    ts = trajectory.timestep
    logits, values = network.apply(params, ts.observation)  # [T+1, B, ...]
    targets = returns.n_step_returns(ts, values, config.gamma)  # [T, B]
    targets = jax.lax.stop_gradient(targets)
    _, _, _, valid = returns.chunk_transitions(ts, config.gamma)
    mask = valid.astype(jnp.float32)
    # rlax averages over time with the mask as weights; rescale so each term
    # is a mean over the valid steps only.
    scale = mask.size / jnp.maximum(mask.sum(), 1.0)
    advantages = targets - jax.lax.stop_gradient(values[:-1])
    pg_loss = scale * jnp.mean(jax.vmap(rlax.policy_gradient_loss, 1)(
        logits[:-1], trajectory.action, advantages, mask))
    entropy_loss = scale * jnp.mean(
        jax.vmap(rlax.entropy_loss, 1)(logits[:-1], mask))
    value_loss = 0.5 * jnp.sum(mask * jnp.square(targets - values[:-1])) / (
        jnp.maximum(mask.sum(), 1.0))
    total = (pg_loss + config.value_coef * value_loss
             + config.entropy_coef * entropy_loss)
    return total, dict(loss=total, policy_loss=pg_loss, value_loss=value_loss,
                       entropy=-entropy_loss)

  def learn(state: A2CState, trajectory: types.Trajectory, key):
    del key
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, trajectory)
    grads = jax.lax.pmean(grads, types.DEVICE_AXIS)
    metrics = jax.lax.pmean(metrics, types.DEVICE_AXIS)
    deltas, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, deltas)
    num_steps = trajectory.action.size * jax.lax.psum(1, types.DEVICE_AXIS)
    return A2CState(params=params, opt_state=opt_state,
                    env_steps=state.env_steps + num_steps), metrics

  return types.Agent(name="a2c", init=init, actor_params=actor_params,
                     initial_actor_state=types.no_actor_state, act=act,
                     learn=learn, action_spaces=("discrete",))
