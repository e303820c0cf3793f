"""The advantage actor-critic loss (Mnih et al. 2016, A3C), written once for
every actor-critic agent (feed-forward A2C, recurrent meta-RL A2C).

Given policy logits and values for every step of a [T+1, B] chunk:
  R_t  = lambda-return, bootstrapped at the chunk end and at truncations
                                                        (lib.returns.n_step_returns)
         lambda = 1 (the default): A3C's n-step return r_{t+1} + gamma R_{t+1};
         lambda < 1: R_t = r_{t+1} + gamma ((1 - lambda) V(s_{t+1})
                                            + lambda R_{t+1})
  A_t  = R_t - V(s_t)                                    (stop-gradient)
         With lambda < 1 this is exactly the generalized advantage estimate
         (Schulman et al. 2016, eq. 16): R_t - V(s_t) = sum_k (gamma lambda)^k
         delta_{t+k}, delta_t = r_{t+1} + gamma V(s_{t+1}) - V(s_t); lambda 0
         gives one-step TD targets. The value regresses on the same R_t.
  L    = - log pi(a_t|s_t) A_t                           (rlax.policy_gradient_loss)
         + value_coef * 1/2 (R_t - V(s_t))^2
         - entropy_coef * H(pi(.|s_t))                   (rlax.entropy_loss)
pi is the `policy` (lib.policies): a softmax over discrete actions (the
default; rlax's two losses above, as they are), or the diagonal Gaussian of
continuous A3C (Mnih et al. 2016, Section 5.4), whose log-density of the
unclipped sample and entropy come from its distrax distribution and enter the
same two terms (`_policy_gradient_loss`, `_entropy_loss`: rlax's losses with
the log-probabilities and entropies given, since rlax's take softmax logits).
Every term is a mean over the valid steps of all devices (actions taken at a
LAST step are ignored by the task and masked out), so one device or many
give the same gradient once the loop averages over the `device` axis.

`make_learner` splits the update into `gradients` and `apply` (the agent
contract's optional pair, types.Agent) and composes them into `learn`, once
for every actor-critic agent.
"""

from __future__ import annotations

from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import optax
import rlax
from flax import struct

from agents import types
from agents.lib import policies
from agents.lib import returns


def _policy_gradient_loss(log_pi_a_t, adv_t, w_t):
  """rlax.policy_gradient_loss given log pi(a_t|s_t) [T] (any policy)."""
  return jnp.mean(-log_pi_a_t * adv_t * w_t)


def _entropy_loss(entropy_t, w_t):
  """rlax.entropy_loss given H(pi(.|s_t)) [T] (any policy)."""
  return -jnp.mean(entropy_t * w_t)


def actor_critic_loss(
    logits: chex.ArrayTree,
    values: chex.Array,
    trajectory: types.Trajectory,
    *,
    gamma: float,
    value_coef: float,
    entropy_coef: chex.Numeric,
    gae_lambda: float = 1.0,
    policy: policies.Policy | None = None,
) -> tuple[chex.Array, dict[str, chex.Array]]:
  """logits [T+1, B, A] (or the `policy`'s params, e.g. a Gaussian's (mean,
  variance), each [T+1, B, d]), values [T+1, B] -> (loss, metrics).
  `policy` None or policies.Categorical: the softmax over discrete actions,
  through rlax's losses exactly as before the Gaussian existed (the generic
  path agrees with them only to ~1e-8, so the discrete path keeps them)."""
  chex.assert_rank(values, 2)
  softmax = policy is None or isinstance(policy, policies.Categorical)
  if softmax:
    chex.assert_rank(logits, 3)
  ts = trajectory.timestep
  targets = jax.lax.stop_gradient(
      returns.n_step_returns(ts, values, gamma, gae_lambda)
  )
  _, _, _, valid = returns.chunk_transitions(ts, gamma)
  mask = valid.astype(jnp.float32)
  # Weight each step by 1 / (valid steps over all devices), times the device
  # count that the loop's pmean divides by, times T because rlax averages
  # over time.
  num_devices = jax.lax.psum(1, types.DEVICE_AXIS)
  global_count = jnp.maximum(jax.lax.psum(mask.sum(), types.DEVICE_AXIS), 1.0)
  weights = mask * (num_devices / global_count)
  num_steps = mask.shape[0]
  advantages = targets - jax.lax.stop_gradient(values[:-1])
  if softmax:
    pg_loss = num_steps * jnp.sum(
        jax.vmap(rlax.policy_gradient_loss, 1)(
            logits[:-1], trajectory.action, advantages, weights
        )
    )
    entropy_loss = num_steps * jnp.sum(
        jax.vmap(rlax.entropy_loss, 1)(logits[:-1], weights)
    )
  else:
    distribution = policy.distribution(jax.tree.map(lambda x: x[:-1], logits))
    log_pi = distribution.log_prob(policy.sampled_actions(trajectory))
    pg_loss = num_steps * jnp.sum(
        jax.vmap(_policy_gradient_loss, 1)(log_pi, advantages, weights)
    )
    entropy_loss = num_steps * jnp.sum(
        jax.vmap(_entropy_loss, 1)(distribution.entropy(), weights)
    )
  value_loss = 0.5 * jnp.sum(weights * jnp.square(targets - values[:-1]))
  total = pg_loss + value_coef * value_loss + entropy_coef * entropy_loss
  return total, dict(
      loss=total,
      policy_loss=pg_loss,
      value_loss=value_loss,
      entropy=-entropy_loss,
  )


@struct.dataclass
class GradientsAux:
  """What `gradients` hands to `apply` besides the gradients."""

  metrics: dict[str, chex.Array]  # averaged over the device axis
  env_steps: chex.Array  # env steps behind these gradients, all devices


def make_learner(
    loss_fn: Callable[..., tuple[chex.Array, dict]],
    optimizer: optax.GradientTransformation,
    extra_metrics: Callable[[Any], dict] | None = None,
):
  """`(gradients, apply, learn)` of an actor-critic agent (types.Agent).

  The agent state must have `params`, `opt_state` and `env_steps` fields
  (a flax struct); `loss_fn(params, trajectory, state) -> (loss, metrics)`.
  `learn(s, t, k) == apply(s, *gradients(s, t, k))`, which it is by
  construction; `apply` may be handed gradients computed on older
  parameters (the asynchronous loops). `extra_metrics(state)` adds metrics
  that are the same on every device (not averaged).
  """

  def gradients(state, trajectory: types.Trajectory, key):
    del key
    grads, metrics = jax.grad(loss_fn, has_aux=True)(
        state.params, trajectory, state
    )
    grads = jax.lax.pmean(grads, types.DEVICE_AXIS)
    metrics = jax.lax.pmean(metrics, types.DEVICE_AXIS)
    if extra_metrics is not None:
      metrics.update(extra_metrics(state))
    # [T, B] steps (a continuous action has a trailing [d] axis).
    num_steps, num_envs = trajectory.action.shape[:2]
    env_steps = num_steps * num_envs * jax.lax.psum(1, types.DEVICE_AXIS)
    return grads, GradientsAux(
        metrics=metrics, env_steps=jnp.asarray(env_steps, jnp.int32)
    )

  def apply(state, grads, aux: GradientsAux):
    deltas, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, deltas)
    return (
        state.replace(
            params=params,
            opt_state=opt_state,
            env_steps=state.env_steps + aux.env_steps,
        ),
        aux.metrics,
    )

  def learn(state, trajectory: types.Trajectory, key):
    return apply(state, *gradients(state, trajectory, key))

  return gradients, apply, learn
