"""Prioritized sweeping: Moore & Atkeson 1993, "Prioritized sweeping:
reinforcement learning with less data and less time", Machine Learning 13;
Sutton & Barto (2018), section 8.4 (the box for deterministic environments).

For each real transition (S, A, R, S'):
  (d) Model(S,A) <- R, S'                               -> tabular.update_model
  (e) P <- |R + gamma max_a Q(S',a) - Q(S,A)|; if P > theta, insert (S,A)
      into PQueue with priority P                       -> insert
  (f) repeat n times, while PQueue is not empty:
        S, A <- first(PQueue); R, S' <- Model(S,A)      -> pop
        Q(S,A) <- Q(S,A) + alpha [R + gamma max_a Q(S',a) - Q(S,A)]
                                               -> tabular.backup (PLANNING)
        for all (S~, A~) predicted to lead to S (Model(S~,A~) = S):
          R~ <- predicted reward
          P <- |R~ + gamma max_a Q(S,a) - Q(S~,A~)|; if P > theta, insert
The real transition updates Q only through the queue (as in the book's box).

The queue is compiled as a fixed-size array `priority[S, A]` (0 = not
queued): inserting a queued pair keeps the larger priority (one entry per
pair, as the book's "insert" of a pair already present); `first` is the pair
with the largest priority, ties to the lowest index s * A + a. Predecessors
of S are found from the model over all pairs at once (the tables are small).
`planning_steps` is n (>= 1), `priority_threshold` is theta (>= 0).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import ml_collections

from agents import types
from agents.lib import tabular
from agents.runtime.errors import UserError


def insert(
    priority: chex.Array, mask: chex.Array, p: chex.Array, theta: float
) -> chex.Array:
  """Inserts every pair where `mask` and p > theta, keeping the max."""
  return jnp.where(mask & (p > theta), jnp.maximum(priority, p), priority)


def pop(
    priority: chex.Array,
) -> tuple[chex.Array, chex.Array, chex.Array, chex.Array]:
  """(queue without its first pair, s, a, whether the queue was non-empty)."""
  num_actions = priority.shape[1]
  index = jnp.argmax(priority.reshape(-1))
  s, a = index // num_actions, index % num_actions
  non_empty = priority[s, a] > 0
  return priority.at[s, a].set(0.0), s, a, non_empty


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  del run  # no schedule over learn calls
  name = "prioritized_sweeping"
  tabular.check_positive(name, "planning_steps", config.planning_steps)
  if not config.priority_threshold >= 0:
    raise UserError(
        f"config.priority_threshold={config.priority_threshold!r}"
        " is not allowed: it must be a number >= 0"
    )
  alpha, gamma = float(config.learning_rate), float(config.gamma)
  theta = float(config.priority_threshold)
  num_steps = int(config.planning_steps)

  def sweep(i, state: tabular.TabularState) -> tabular.TabularState:
    del i
    priority, s, a, non_empty = pop(state.priority)
    m = state.model
    state = tabular.backup(
        state,
        s,
        a,
        m.reward[s, a],
        m.discount[s, a],
        m.next_state[s, a],
        alpha=alpha,
        gamma=gamma,
        kind=tabular.PLANNING,
        valid=non_empty,
    )
    # Every tried (S~, A~) the model says leads to S.
    predecessors = m.tried & (m.next_state == s) & non_empty
    target = m.reward + gamma * m.discount * state.q[s].max()
    p = jnp.abs(target - state.q)
    return state.replace(priority=insert(priority, predecessors, p, theta))

  def update(
      state: tabular.TabularState, transition: tabular.Transition, key
  ) -> tabular.TabularState:
    del key
    t = transition
    model = tabular.update_model(state.model, t, state.t)
    p = jnp.abs(
        tabular.td_error(
            state.q,
            t.state,
            t.action,
            t.reward,
            t.discount,
            t.next_state,
            gamma,
        )
    )
    mask = (
        jnp.zeros_like(state.priority, bool).at[t.state, t.action].set(t.valid)
    )
    state = state.replace(
        model=model, priority=insert(state.priority, mask, p, theta)
    )
    return jax.lax.fori_loop(0, num_steps, sweep, state)

  return tabular.make_tabular_agent(config, specs, name=name, update=update)
