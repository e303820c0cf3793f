"""Memory chain (bsuite's `memory_len` / `memory_size`; Osband et al. 2020,
"Behaviour Suite for Reinforcement Learning", and `bsuite/environments/
memory_chain.py`): a partially observable task that needs memory.

An episode lasts `memory_length + 1` steps. At the start a context of
`num_bits` random bits c is drawn, and a query bit index q. The observation,
shape (1, num_bits + 2), at episode time t (t = 0 at the FIRST step) is
  [1 - t / memory_length,                   the time left, on every step,
   q   if t == memory_length - 1 else 0,    the query, one step before the end,
   2c - 1  if t == 0 else 0]                the context, only at the start.
The agent acts `memory_length + 1` times; every action but the last gives
reward 0 and does nothing; the last is judged: reward +1 if it equals c[q],
-1 otherwise, and the episode terminates (discount 0).

bsuite's quirk, kept here: its `_step` computes the observation BEFORE it
advances the time, so the observation after the first action repeats the
FIRST one (context included), the judged action is taken at the observation
of time `memory_length - 1` (the one that shows the query) and the final
observation is that of time `memory_length`. With memory_length >= 2 a
memoryless agent sees the same observation whatever c is when it answers,
so its accuracy is 1/2; remembering one bit over `memory_length` steps
solves it. (With memory_length 1 the answer is given at the context's
observation: no memory is needed.)
`tests/test_memory_chain.py` replays bsuite's MemoryChain against this one
move for move.

`memory_len` in the registry is bsuite's experiment: one bit (the query is
then always 0), `memory_length` from 1 to 100 in bsuite's sweep.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
from dm_env import specs
from flax import struct

from environments import base


@struct.dataclass
class MemoryChainState:
  time: chex.Array  # int32, bsuite's `_timestep`
  context: chex.Array  # int32 [num_bits], each 0 or 1
  query: chex.Array  # int32, the bit asked for


@dataclasses.dataclass(frozen=True)
class MemoryChain(base.Environment):
  memory_length: int = 10
  num_bits: int = 1

  def __post_init__(self):
    if self.memory_length < 1:
      raise ValueError(f"memory_length={self.memory_length}; it must be >= 1")
    if self.num_bits < 1:
      raise ValueError(f"num_bits={self.num_bits}; it must be >= 1")

  def _observation(self, s: MemoryChainState) -> chex.Array:
    # (L - t) / L, rounded once: bsuite's float64 1 - t / L cast to float32.
    time_left = (self.memory_length - s.time).astype(
        jnp.float32
    ) / self.memory_length
    query = jnp.where(s.time == self.memory_length - 1, s.query, 0).astype(
        jnp.float32
    )
    context = jnp.where(s.time == 0, 2 * s.context - 1, 0).astype(jnp.float32)
    row = jnp.concatenate([time_left[None], query[None], context])
    return row[None, :]

  def _reset(self, key):
    context_key, query_key = jax.random.split(key)
    s = MemoryChainState(
        time=jnp.zeros((), jnp.int32),
        context=jax.random.bernoulli(context_key, 0.5, (self.num_bits,)).astype(
            jnp.int32
        ),
        query=jax.random.randint(query_key, (), 0, self.num_bits),
    )
    return s, self._observation(s)

  def _step(self, s: MemoryChainState, action, key):
    del key
    observation = self._observation(s)  # before the time advances (bsuite)
    terminated = s.time == self.memory_length
    correct = jnp.asarray(action, jnp.int32) == s.context[s.query]
    reward = jnp.where(terminated, jnp.where(correct, 1.0, -1.0), 0.0)
    return s.replace(time=s.time + 1), observation, reward, terminated

  def observation_spec(self):
    return specs.Array((1, self.num_bits + 2), jnp.float32, name="observation")

  def action_spec(self):
    return specs.DiscreteArray(2, dtype=jnp.int32, name="action")
