"""Per-actor-learner updates of Mnih et al. 2016, "Asynchronous methods for
deep reinforcement learning" (ICML), written once for its four algorithms.

In the paper every actor-learner thread accumulates the gradient of its own
t_max-step chunk (Algorithms 1, S2, S3: "accumulate gradients wrt theta'"),
then applies it alone to the shared parameters ("perform asynchronous update
of theta using dtheta"), through the shared RMSProp (lib/shared_rmsprop.py).
So K actors make K optimizer steps per K chunks, each gradient computed on
parameters that may be up to K - 1 updates old.

`make_learner(loss_fn, optimizer, per_actor=True)` gives the agent contract's
`gradients` / `apply` (types.Agent) in that form for a batch of B actors
(environments) of one trajectory [T+1, B]:
  gradients  one gradient per actor: jax.grad of `loss_fn` on that actor's
             [T+1, 1] chunk, all on the same parameters theta' (vmapped over
             actors; gathered over the `device` axis, so every device holds
             all B_global actors' gradients, in global actor order)
  apply      the B_global gradients applied one after another, each a full
             shared-RMSProp step on the state the previous one left:
             theta <- theta - eta dtheta_k / sqrt(g + eps), k = 1..B_global,
             then `after_step(state, env_steps_before)` (the value-based
             agents' target refresh, which counts global env steps)
In the compiled (Anakin) loop this is the paper's asynchrony made
deterministic: the K actors' gradients come from one snapshot and are applied
in turn, staleness 0, 1, ..., K - 1. In the hogwild loop each thread does the
same for its own environments on the live shared state (real asynchrony).
`per_actor=False` is the synchronous (A2C) form instead: one gradient of the
loss over all B actors (averaged over devices), one optimizer step.

`learn(s, t, k) == apply(s, *gradients(s, t, k))` by construction.
"""

from __future__ import annotations

from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from agents import types

# How a [T+1, B] trajectory is split into actors: env axis 1, actor state 0.
_ACTOR_AXES = types.Trajectory(timestep=1, action=1, extras=1, actor_state=0)


@struct.dataclass
class AsyncAux:
  """What `gradients` hands to `apply` besides the gradients."""

  metrics: dict[str, chex.Array]  # averaged over actors and devices
  env_steps: chex.Array  # [N] int32: env steps behind each of the N gradients


def one_actor(trajectory: types.Trajectory) -> types.Trajectory:
  """One actor's slice (env axis dropped by vmap) back to a [T+1, 1] chunk."""
  return types.Trajectory(
      timestep=jax.tree.map(lambda x: x[:, None], trajectory.timestep),
      action=trajectory.action[:, None],
      extras=jax.tree.map(lambda x: x[:, None], trajectory.extras),
      actor_state=jax.tree.map(lambda x: x[None], trajectory.actor_state),
  )


def make_learner(
    loss_fn: Callable[..., tuple[chex.Array, dict]],
    optimizer: optax.GradientTransformation,
    *,
    per_actor: bool = True,
    after_step: Callable[[Any, chex.Array], Any] | None = None,
):
  """`(gradients, apply, learn)` (types.Agent's optional pair and learn).

  The agent state must be a flax struct with `params`, `opt_state` and
  `env_steps` (global env steps, int32);
  `loss_fn(params, state, trajectory [T+1, b], key) -> (loss, metrics)`.
  """

  def gradients(state, trajectory: types.Trajectory, key: chex.PRNGKey):
    chex.assert_rank(trajectory.timestep.step_type, 2)  # [T+1, B]
    # [T, B] (a continuous action has a trailing [d] axis)
    num_steps, num_actors = trajectory.action.shape[:2]
    grad_fn = jax.grad(loss_fn, has_aux=True)
    if per_actor:

      def actor_gradient(actor_trajectory, actor_key):
        return grad_fn(
            state.params, state, one_actor(actor_trajectory), actor_key
        )

      grads, metrics = jax.vmap(actor_gradient, in_axes=(_ACTOR_AXES, 0))(
          trajectory, jax.random.split(key, num_actors)
      )
      grads = jax.lax.all_gather(grads, types.DEVICE_AXIS, tiled=True)
      metrics = jax.tree.map(lambda m: jnp.mean(m, 0), metrics)
      num_grads = num_actors * jax.lax.psum(1, types.DEVICE_AXIS)
      env_steps = jnp.full((num_grads,), num_steps, jnp.int32)
    else:
      grads, metrics = grad_fn(state.params, state, trajectory, key)
      grads = jax.tree.map(
          lambda g: g[None], jax.lax.pmean(grads, types.DEVICE_AXIS)
      )
      env_steps = jnp.full(
          (1,),
          num_steps * num_actors * jax.lax.psum(1, types.DEVICE_AXIS),
          jnp.int32,
      )
    metrics = jax.lax.pmean(metrics, types.DEVICE_AXIS)
    return grads, AsyncAux(metrics=metrics, env_steps=env_steps)

  def apply(state, grads, aux: AsyncAux):
    def step(state, gradient_and_steps):
      gradient, steps = gradient_and_steps
      deltas, opt_state = optimizer.update(
          gradient, state.opt_state, state.params
      )
      new = state.replace(
          params=optax.apply_updates(state.params, deltas),
          opt_state=opt_state,
          env_steps=state.env_steps + steps,
      )
      if after_step is not None:
        new = after_step(new, state.env_steps)
      return new, None

    state, _ = jax.lax.scan(step, state, (grads, aux.env_steps))
    return state, aux.metrics

  def learn(state, trajectory: types.Trajectory, key: chex.PRNGKey):
    return apply(state, *gradients(state, trajectory, key))

  return gradients, apply, learn


def optimizer_steps(
    run: types.RunInfo, rollout_length: int, per_actor: bool
) -> int:
  """Optimizer steps over the run: one per actor chunk (per_actor), else one
  per learn call; what the learning rate anneals over."""
  if not per_actor:
    return run.learn_calls
  return run.learn_calls * max(
      1, run.env_steps_per_learn_call // rollout_length
  )
