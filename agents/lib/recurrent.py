"""What every recurrent (LSTM) agent carries between steps, written once.

The actor state of a recurrent agent is its LSTM core state (c, h) and the
one-hot previous action, both fed back into the next step (meta-A2C, Wang et
al. 2018; R2D2, Kapturowski et al. 2019). dm_env streams run episode after
episode, so the state must be reset to zeros at every FIRST step, before the
step is processed, by the actor and by any learner that re-runs the stream
(a chunk's unroll, a replayed sequence): `reset_at_first` is that reset.
`with_forget_bias` is the forget-gate initialisation both agents use.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ActorState:
  core: tuple[chex.Array, chex.Array]  # LSTM (c, h), each [lstm_size]
  previous_action: chex.Array  # float32 [num_actions], onehot(a_{t-1})


def initial_actor_state(lstm_size: int, num_actions: int) -> ActorState:
  """Zeros: the state at an episode's first step."""
  zeros = jnp.zeros((lstm_size,), jnp.float32)
  return ActorState(
      core=(zeros, zeros),
      previous_action=jnp.zeros((num_actions,), jnp.float32),
  )


def reset_at_first(actor_state, first: chex.Array):
  """Zeros (the initial state) wherever `first`; works batched or not:
  `first` has the state's leading (batch) axes, or none."""

  def select(x):
    mask = jnp.reshape(first, first.shape + (1,) * (x.ndim - first.ndim))
    return jnp.where(mask, jnp.zeros_like(x), x)

  return jax.tree.map(select, actor_state)


def with_forget_bias(params, forget_bias: float):
  """Adds `forget_bias` to the LSTM's forget-gate bias (initially 0 in
  flax): f = sigmoid(W x + U h + b_f + forget_bias), as TensorFlow's and
  Sonnet's LSTMs do by default (Jozefowicz et al. 2015), so that at
  initialisation the cell keeps its memory (f ~ 0.73 instead of 0.5) and
  gradients reach steps far back. `params` holds the cell as "lstm"."""
  lstm = params["params"]["lstm"]
  forget = lstm["hf"]
  lstm = {**lstm, "hf": {**forget, "bias": forget["bias"] + forget_bias}}
  return {**params, "params": {**params["params"], "lstm": lstm}}
