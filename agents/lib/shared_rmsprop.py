"""The optimizer of Mnih et al. 2016, "Asynchronous methods for deep
reinforcement learning" (ICML), written once for its four algorithms
(agents/one_step_q.py, one_step_sarsa.py, n_step_q.py, a3c.py).

Shared RMSProp (the paper's Section 4, "Optimization", eq. (9) of the
supplement), per parameter element, with decay alpha = 0.99:
  g      <- alpha g + (1 - alpha) dtheta^2
  theta  <- theta - eta_t dtheta / sqrt(g + eps)
"Shared" means that the statistics g are one array used and updated by every
actor-learner thread, not one per thread: here g lives in the optimizer state,
which is part of the one agent state every loop shares (the hogwild loop's
threads all apply to it; the compiled loop's actors apply in turn).

eps sits INSIDE the square root, as in the equation; that is
`optax.rmsprop(eta, decay=alpha, eps=eps, eps_in_sqrt=True)` (no momentum, no
bias correction), which this transformation equals element for element on one
thread (tests/test_async_agents.py). It is written out rather than taken from
optax because its state must also carry what the paper samples and anneals:

  eta_0 ~ LogUniform(1e-4, 1e-2)  per run (the paper's Section 5.1 and
          Figure 2 sample it per agent); `learning_rate_sampling`:
          "fixed" (config.learning_rate) or "log_uniform" (in
          [learning_rate_min, learning_rate_max]), drawn from the seed's
          own key (`initial_learning_rate`), so each vmapped seed has its own
  eta_t = eta_0 max(0, 1 - t / N)  annealed linearly to 0 over the run's N
          optimizer steps (`anneal_steps`, from types.RunInfo; 0 = constant);
          t counts the steps applied to the shared state (`count`)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import ml_collections
import optax

from agents.runtime.errors import UserError

# fold_in constant: the learning rate's own stream of the seed's agent key.
LEARNING_RATE_STREAM = 0x1EA7


class SharedRMSPropState(NamedTuple):
  g: Any  # running mean of squared gradients, like the params
  count: chex.Array  # int32: optimizer steps applied so far
  learning_rate: chex.Array  # float32: eta_0 of this run (seed)


def shared_rmsprop(
    learning_rate: float,
    *,
    decay: float = 0.99,
    eps: float = 0.1,
    anneal_steps: int = 0,
) -> optax.GradientTransformation:
  """The paper's shared RMSProp; `learning_rate` is eta_0 unless the agent
  replaces `state.learning_rate` (a sampled one) after `init`."""

  def init(params):
    return SharedRMSPropState(
        g=jax.tree.map(jnp.zeros_like, params),
        count=jnp.zeros((), jnp.int32),
        learning_rate=jnp.asarray(learning_rate, jnp.float32),
    )

  def update(updates, state: SharedRMSPropState, params=None):
    del params
    g = jax.tree.map(
        lambda g, d: decay * g + (1.0 - decay) * jnp.square(d), state.g, updates
    )
    eta = state.learning_rate
    if anneal_steps > 0:
      eta = eta * jnp.maximum(0.0, 1.0 - state.count / anneal_steps)
    deltas = jax.tree.map(
        lambda d, g: -eta * d * jax.lax.rsqrt(g + eps), updates, g
    )
    return deltas, SharedRMSPropState(
        g=g, count=state.count + 1, learning_rate=state.learning_rate
    )

  return optax.GradientTransformation(init, update)


def initial_learning_rate(
    config: ml_collections.ConfigDict, key: chex.PRNGKey
) -> chex.Array:
  """eta_0 of one seed: config.learning_rate, or LogUniform(min, max) drawn
  from the seed's key (its own fold_in stream)."""
  kind = config.get("learning_rate_sampling", "fixed")
  if kind == "fixed":
    return jnp.asarray(config.learning_rate, jnp.float32)
  low, high = config.learning_rate_min, config.learning_rate_max
  if not 0 < low <= high:
    raise UserError(
        f"config.learning_rate_min={low} and "
        f"config.learning_rate_max={high}: log-uniform sampling "
        "needs 0 < learning_rate_min <= learning_rate_max"
    )
  u = jax.random.uniform(jax.random.fold_in(key, LEARNING_RATE_STREAM))
  return jnp.exp(jnp.log(low) + u * (jnp.log(high) - jnp.log(low))).astype(
      jnp.float32
  )


def from_config(
    config: ml_collections.ConfigDict, anneal_steps: int
) -> optax.GradientTransformation:
  """The shared RMSProp a config describes (no gradient clipping: the
  paper's algorithms have none)."""
  return shared_rmsprop(
      config.learning_rate,
      decay=config.rmsprop_decay,
      eps=config.optimizer_eps,
      anneal_steps=anneal_steps if config.anneal_learning_rate else 0,
  )
