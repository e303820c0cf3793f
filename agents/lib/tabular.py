"""Tabular pieces shared by Q-learning, Dyna-Q, Dyna-Q+, prioritized sweeping.

Sutton & Barto, "Reinforcement Learning: An Introduction", 2nd ed. (2018),
ch. 6.5 and 8. Written once here, used by `agents/q_learning.py`,
`agents/dyna_q.py`, `agents/dyna_q_plus.py`, `agents/prioritized_sweeping.py`:

* `TabularState`: the action-value table Q[s, a], the deterministic model
  Model(s, a) -> (r, s', discount) with when each pair was last tried, the
  prioritized-sweeping queue, the run's time step and an event log.
* `q_backup`: the one-step Q-learning backup (eq. 6.8),
    Q(s,a) <- Q(s,a) + alpha [r + bonus + gamma d max_a' Q(s',a') - Q(s,a)],
  with d = 0 at termination; the TD error is `rlax.q_learning`'s.
* `update_model` (Dyna-Q's Model(S,A) <- R,S', deterministic environments),
  `sample_tried` (a previously observed pair, uniformly) and `dyna_planning`
  (n simulated backups drawn from the model, optionally with Dyna-Q+'s bonus).
* `EventLog`: every backup, real or simulated, event by event: the agent time
  step it happened at, (s, a), its kind (`REAL` / `PLANNING`) and its TD
  error, in a ring buffer of fixed capacity (oldest overwritten; `count` is
  the total ever written, so `count % capacity` is the next slot).
* `make_tabular_agent`: the agent contract around a per-transition update,
  epsilon-greedy acting with random tie-breaking (`rlax.epsilon_greedy`); the
  learner processes a trajectory's transitions one by one in time order,
  environment after environment, as the book's agents do step by step.

Observations must be state indices (a `DiscreteArray` spec, e.g. the grid
worlds' default), actions discrete.
"""

from __future__ import annotations

from typing import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import rlax
from flax import struct

from agents import types
from agents.runtime.errors import UserError

REAL, PLANNING = 0, 1  # EventLog.kind


@struct.dataclass
class Model:
  """A deterministic tabular model of the environment (Sutton & Barto 8.2)."""

  next_state: chex.Array  # [S, A] int32 (untried pairs: the state itself)
  reward: chex.Array  # [S, A] float32 (untried: 0)
  discount: chex.Array  # [S, A] float32, 0 at termination (untried: 1)
  tried: chex.Array  # [S, A] bool, whether (s, a) was ever taken
  last_tried: chex.Array  # [S, A] int32, time step of the last real visit


@struct.dataclass
class EventLog:
  """Every backup, in the order it happened (a ring buffer)."""

  step: chex.Array  # [C] int32 agent time step at which it happened
  state: chex.Array  # [C] int32
  action: chex.Array  # [C] int32
  kind: chex.Array  # [C] int32: REAL or PLANNING
  td_error: chex.Array  # [C] float32, before the backup
  count: chex.Array  # () int32, events written in all


@struct.dataclass
class TabularState:
  q: chex.Array  # [S, A] float32
  model: Model
  priority: chex.Array  # [S, A] float32 queue (prioritized sweeping; 0 = out)
  t: chex.Array  # () int32 agent time steps (real transitions) so far
  num_backups: chex.Array  # () int32 Q backups (real + simulated) so far
  log: EventLog


@struct.dataclass
class TabularActorParams:
  q: chex.Array
  epsilon: chex.Array


@struct.dataclass
class Transition:
  state: chex.Array  # int32
  action: chex.Array  # int32
  reward: chex.Array  # float32
  discount: chex.Array  # float32 (0 at termination)
  next_state: chex.Array  # int32
  valid: chex.Array  # bool (False: the action at a LAST step, ignored)


# ---- tables -----------------------------------------------------------------


def init_state(
    num_states: int, num_actions: int, log_capacity: int
) -> TabularState:
  states = jnp.arange(num_states, dtype=jnp.int32)
  shape = (num_states, num_actions)
  model = Model(
      next_state=jnp.broadcast_to(states[:, None], shape),
      reward=jnp.zeros(shape, jnp.float32),
      discount=jnp.ones(shape, jnp.float32),
      tried=jnp.zeros(shape, bool),
      last_tried=jnp.zeros(shape, jnp.int32),
  )
  capacity = max(int(log_capacity), 1)
  log = EventLog(
      step=jnp.zeros(capacity, jnp.int32),
      state=jnp.zeros(capacity, jnp.int32),
      action=jnp.zeros(capacity, jnp.int32),
      kind=jnp.zeros(capacity, jnp.int32),
      td_error=jnp.zeros(capacity, jnp.float32),
      count=jnp.zeros((), jnp.int32),
  )
  return TabularState(
      q=jnp.zeros(shape, jnp.float32),
      model=model,
      priority=jnp.zeros(shape, jnp.float32),
      t=jnp.zeros((), jnp.int32),
      num_backups=jnp.zeros((), jnp.int32),
      log=log,
  )


def td_error(
    q: chex.Array, s, a, r, discount, s_next, gamma: float, bonus=0.0
) -> chex.Array:
  """r + bonus + gamma * discount * max_a' Q(s', a') - Q(s, a)."""
  return rlax.q_learning(
      q[s],
      a,
      jnp.asarray(r + bonus, jnp.float32),
      jnp.asarray(gamma * discount, jnp.float32),
      q[s_next],
  )


def q_backup(
    q: chex.Array,
    s,
    a,
    r,
    discount,
    s_next,
    alpha: float,
    gamma: float,
    bonus=0.0,
    valid=True,
) -> tuple[chex.Array, chex.Array]:
  """One Q-learning backup of Q[s, a] (eq. 6.8); returns (q, TD error)."""
  chex.assert_rank(q, 2)
  delta = td_error(q, s, a, r, discount, s_next, gamma, bonus)
  q = q.at[s, a].add(jnp.where(valid, alpha * delta, 0.0))
  return q, delta


def log_event(log: EventLog, step, s, a, kind, delta, valid=True) -> EventLog:
  """Appends one backup to the ring buffer (nothing when not `valid`)."""
  i = log.count % log.step.shape[0]

  def put(buffer, value):
    return buffer.at[i].set(jnp.where(valid, value, buffer[i]))

  return EventLog(
      step=put(log.step, step),
      state=put(log.state, s),
      action=put(log.action, a),
      kind=put(log.kind, kind),
      td_error=put(log.td_error, delta),
      count=log.count + jnp.asarray(valid, jnp.int32),
  )


def ordered_events(log: EventLog) -> dict[str, np.ndarray]:
  """The log's retained events, oldest first, as numpy arrays (host; one
  run's log, not a vmapped one)."""
  capacity = log.step.shape[-1]
  count = int(log.count)
  kept = min(count, capacity)
  order = np.arange(count - kept, count) % capacity
  return {
      name: np.asarray(getattr(log, name))[order]
      for name in ("step", "state", "action", "kind", "td_error")
  }


def backup(
    state: TabularState,
    s,
    a,
    r,
    discount,
    s_next,
    *,
    alpha: float,
    gamma: float,
    kind: int,
    bonus=0.0,
    valid=True,
) -> TabularState:
  """`q_backup` of (s, a), logged and counted."""
  q, delta = q_backup(
      state.q, s, a, r, discount, s_next, alpha, gamma, bonus, valid
  )
  return state.replace(
      q=q,
      num_backups=state.num_backups + jnp.asarray(valid, jnp.int32),
      log=log_event(state.log, state.t, s, a, kind, delta, valid),
  )


# ---- the model ---------------------------------------------------------------


def update_model(model: Model, transition: Transition, t) -> Model:
  """Model(S, A) <- R, S' (deterministic environment); records when."""
  s, a, v = transition.state, transition.action, transition.valid

  def put(table, value):
    return table.at[s, a].set(jnp.where(v, value, table[s, a]))

  return Model(
      next_state=put(model.next_state, transition.next_state),
      reward=put(model.reward, transition.reward),
      discount=put(model.discount, transition.discount),
      tried=put(model.tried, True),
      last_tried=put(model.last_tried, t),
  )


def sample_tried(
    key: chex.PRNGKey, model: Model, all_actions: bool = False
) -> tuple[chex.Array, chex.Array, chex.Array]:
  """A uniformly drawn previously tried (s, a); `all_actions`: any action of
  a previously visited state. Returns (s, a, whether there was any)."""
  candidates = model.tried
  if all_actions:
    candidates = jnp.broadcast_to(
        model.tried.any(axis=1, keepdims=True), model.tried.shape
    )
  num_actions = candidates.shape[1]
  # One uniform draw, located in the cumulative count of candidates (cheaper
  # than a Gumbel draw per pair, which dominated the planning loop).
  counts = jnp.cumsum(candidates.reshape(-1).astype(jnp.int32))
  total = counts[-1]
  k = jax.random.randint(key, (), 0, jnp.maximum(total, 1))
  index = jnp.searchsorted(counts, k, side="right")
  index = jnp.minimum(index, counts.shape[0] - 1)
  return index // num_actions, index % num_actions, total > 0


def dyna_planning(
    state: TabularState,
    key: chex.PRNGKey,
    *,
    num_steps: int,
    alpha: float,
    gamma: float,
    kappa: float = 0.0,
    all_actions: bool = False,
    valid=True,
) -> TabularState:
  """Dyna-Q's planning loop (Sutton & Barto 8.2, step (f)), n times:
    S, A <- a random previously observed pair;  R, S' <- Model(S, A);
    Q(S,A) <- Q(S,A) + alpha [R + kappa sqrt(tau) + gamma max_a Q(S',a)
                              - Q(S,A)]
  tau = time steps since (S, A) was last tried (kappa = 0: Dyna-Q; kappa > 0
  with `all_actions`: Dyna-Q+, section 8.3). Nothing when not `valid`."""

  def plan(i, state):
    s, a, any_tried = sample_tried(
        jax.random.fold_in(key, i), state.model, all_actions
    )
    m = state.model
    bonus = 0.0
    if kappa:
      tau = (state.t - m.last_tried[s, a]).astype(jnp.float32)
      bonus = kappa * jnp.sqrt(tau)
    return backup(
        state,
        s,
        a,
        m.reward[s, a],
        m.discount[s, a],
        m.next_state[s, a],
        alpha=alpha,
        gamma=gamma,
        kind=PLANNING,
        bonus=bonus,
        valid=any_tried & valid,
    )

  return jax.lax.fori_loop(0, num_steps, plan, state)


# ---- the agent around a per-transition update --------------------------------

UpdateFn = Callable[[TabularState, Transition, chex.PRNGKey], TabularState]


def transitions(trajectory: types.Trajectory) -> Transition:
  """A [T+1, B] trajectory's T*B transitions, time-major, flattened."""
  ts = trajectory.timestep
  flat = lambda x: x.reshape(-1)
  return Transition(
      state=flat(ts.observation[:-1]).astype(jnp.int32),
      action=flat(trajectory.action).astype(jnp.int32),
      reward=flat(ts.reward[1:]).astype(jnp.float32),
      discount=flat(ts.discount[1:]).astype(jnp.float32),
      next_state=flat(ts.observation[1:]).astype(jnp.int32),
      valid=flat(~ts.last()[:-1]),
  )


def check_specs(name: str, specs: types.EnvSpecs) -> tuple[int, int]:
  """(num_states, num_actions); UserError unless both are discrete."""
  observation, action = specs.observation, specs.action
  if not hasattr(observation, "num_values") or not hasattr(
      action, "num_values"
  ):
    raise UserError(
        f"agent {name!r} is tabular: it needs a task whose observation is a "
        f"state index and whose actions are discrete (e.g. a grid world with "
        f"observation='index'); got observation {observation} and action "
        f"{action}"
    )
  return int(observation.num_values), int(action.num_values)


def check_positive(name: str, key: str, value, integer: bool = True) -> None:
  ok = value >= 1 if integer else value > 0
  if not ok:
    allowed = "an integer >= 1" if integer else "a number > 0"
    raise UserError(
        f"config.{key}={value!r} is not allowed for agent "
        f"{name!r}: it must be {allowed}"
    )


def make_tabular_agent(
    config, specs: types.EnvSpecs, *, name: str, update: UpdateFn
) -> types.Agent:
  """The agent contract around `update(state, transition, key) -> state`,
  called once per real transition (it must advance nothing but Q, the model,
  the queue and the log; the time step is advanced here, after it)."""
  num_states, num_actions = check_specs(name, specs)
  if not 0 <= config.epsilon <= 1:
    raise UserError(
        f"config.epsilon={config.epsilon!r} is not allowed: it "
        "must be a probability in [0, 1]"
    )
  check_positive(name, "learning_rate", config.learning_rate, integer=False)
  check_positive(name, "event_log_capacity", config.event_log_capacity)
  epsilon = float(config.epsilon)

  def init(key, specs):
    del key, specs
    return init_state(num_states, num_actions, config.event_log_capacity)

  def actor_params(state: TabularState) -> TabularActorParams:
    return TabularActorParams(q=state.q, epsilon=jnp.float32(epsilon))

  def act(
      params: TabularActorParams,
      actor_state,
      timestep,
      key,
      evaluation: bool = False,
  ):
    q_row = params.q[jnp.asarray(timestep.observation, jnp.int32)]
    eps = 0.0 if evaluation else params.epsilon
    action = rlax.epsilon_greedy(eps).sample(key, q_row)
    return action.astype(jnp.int32), actor_state, {}

  def learn(state: TabularState, trajectory: types.Trajectory, key):
    batch = transitions(trajectory)
    backups_before = state.num_backups

    def one(state, inputs):
      transition, step_key = inputs
      state = update(state, transition, step_key)
      state = state.replace(t=state.t + transition.valid.astype(jnp.int32))
      return state, None

    keys = jax.random.split(key, batch.state.shape[0])
    state, _ = jax.lax.scan(one, state, (batch, keys))
    metrics = {
        "backups": (state.num_backups - backups_before).astype(jnp.float32)
    }
    return state, metrics

  return types.Agent(
      name=name,
      init=init,
      actor_params=actor_params,
      initial_actor_state=types.no_actor_state,
      act=act,
      learn=learn,
  )
