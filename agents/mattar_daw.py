"""Prioritized replay by gain x need: Mattar & Daw 2018, "Prioritized memory
access explains planning and hippocampal replay", Nature Neuroscience 21.

A tabular Q-learner (Watkins) with a learned model that, at two moments,
replays `replay_steps` backups chosen one at a time by their expected value
of backup (EVB): before each trial, at the start state ("phase 0"), and after
the trial ends, on reaching the goal ("phase 1").

Checked against the authors' reference code (MATLAB,
github.com/marcelomattar/PrioritizedReplay): replaySim.m (the simulation,
its planning loop and `expandFurther` n-step extension), needTerm.m (Need),
gainTerm.m (Gain), pAct.m (the softmax policy), setParams.m (the defaults:
gamma .9, alpha 1, softmax beta 5, nPlan 20, EVMthresh 0, baselineGain
1e-10, TLearnRate .9, tieBreak 'min', remove_samestate, no loops) and the
figure scripts Paper/Figure3_FvsR_balance/Code/genFig_FvsR_*.m. Nothing of
it is copied; what it does is reimplemented here as follows.

Equations (paper, Methods "Prioritized replay") -> code:
  Q-learning, online and in replay:
    Q(s,a) <- Q(s,a) + alpha [r + gamma max_a' Q(s',a') - Q(s,a)]
      online: agents/lib/tabular.py's `q_backup` (in `process`); replay uses
      the learned model's r(s,a), P(s'|s,a) (`one_step_targets`).
  EVB(s_k, a_k) = Gain(s_k, a_k) x Need(s_k)                    -> `replay`
  Gain: the policy improvement at the replayed state, valued with the new Q
    (gainTerm.m),
    Gain = sum_a [pi_new(a|s_k) - pi_old(a|s_k)] Q_new(s_k, a)   -> `gain`
    pi is the agent's own policy (`Policy`): softmax(beta Q) (the reference
    code's `planPolicy` and `actPolicy`, beta 5) or epsilon-greedy.
  Need: the expected discounted number of future visits to s_k from the
    agent's current state s_t, the successor representation
    M = (I - gamma T)^-1, Need = M[s_t, s_k]     -> `need` (needTerm.m)
    T (`need_model` "learned", the reference's): a state-transition matrix
    learned from experience by a delta rule, T(s, .) += eta (1_{s'} -
    T(s, .)), eta = `transition_learning_rate` (TLearnRate .9), on every
    real step and on every trial's end (goal -> next start, the reference's
    `Tgoal2start` wrap-around, so that Need looks past the end of a trial);
    the pre-exploration (agents/analysis/mattar_daw.py) sets its first rows.
    It does not change during a replay phase, so Need is computed once.
    s_t is where the agent is when it replays (replaySim.m's `sti`): the
    start state before a run, and after reward the state it left to enter
    the goal (the reference plans before it moves the agent on).
    `need_model` "policy" (an alternative, not the reference's): T_pi[s, s']
    = sum_a pi(a|s) P(s'|s,a) of the learned model under the current
    policy, recomputed before every backup (`policy_transitions`).
  Gains below `min_gain` count as `min_gain` (the reference's baselineGain:
    with no gain anywhere, replay follows Need).
  One-step candidates: every experienced (s, a) that moves the agent (the
    reference's `remove_samestate`: bumping into a wall is not replayed).
  n-step extension (replaySim.m, `expandFurther`; `n_step_extension`):
    besides every one-step backup, the candidate set holds the last
    replayed sequence s_1 -a_1-> ... -> s_{n+1} extended by one step along the greedy action
    a_{n+1} = argmax Q(s_{n+1}) (ties broken at random; no loops: its
    outcome must be new to the sequence). That backup sets every
    Q(s_j, a_j) of the sequence toward its n-step return
    G_j = sum_{i>=j} gamma^{i-j} r_i + gamma^{n+2-j} max_a Q(s_{n+2}, a)
    (`sequence_returns`), and its EVB is Need(s_{n+1}) x sum_j Gain_j (the
    reference's: the Need of the appended step's state, `sequence_evb`).
    The largest EVB wins, ties to the shorter backup then at random (the
    reference's tieBreak 'min'); a winning one-step backup starts a new
    sequence. Only the last sequence is extended, as in the reference.
  Replay goes on while the best EVB exceeds min(opportunity cost,
  `evb_threshold`), the opportunity cost being the mean reward per real
  step (the reference's `EVMthresh` rule: with its EVMthresh 0 and the
  baseline gain, every phase makes all `replay_steps` backups), for at most
  `replay_steps` (nPlan 20) backups.

`replay_mode`: "prioritized" (the above), "random" (Dyna-style: each backup
one uniformly drawn experienced (s, a)), "none" (plain Q-learning).

Every backup is logged (`ReplayLog`): state, action, outcome, the agent's env
step and trial, phase (0 before a run, 1 after it), sequence length and EVB;
`agents/analysis/mattar_daw.py` classifies them as forward or reverse.

Contract use: the observation is a discrete state index (the grid world's
"index" observation). `learn` walks the chunk's transitions in order (env by
env within a time step); a LAST -> FIRST step (the auto-reset) starts a trial
and triggers the pre-run replay (Need from the new start state), a step that
reaches LAST triggers the post-run replay (Need from the state it left).
The reference replays before a run one step later (after the first move,
Need still from the start). Run it with one environment and
`rollout_length` 1 to replay between steps as the reference does.
Under `vmap` over seeds the replay is a `lax.while_loop` whose trip count is
0 at ordinary steps, so it costs only at trial boundaries.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from agents import types
from agents.lib import tabular
from agents.runtime.errors import UserError

REPLAY_MODES = ("prioritized", "random", "none")
POLICIES = ("softmax", "epsilon_greedy")
NEED_MODELS = ("learned", "policy")
PHASE_BEFORE_RUN, PHASE_AFTER_RUN = 0, 1


# ----------------------------------------------------------------- the model


@struct.dataclass
class ModelExpectations:
  """What replay reads from the learned model, as arrays over (s, a)."""

  transitions: chex.Array  # [S, A, S] P(s'|s,a), zero rows when untried
  reward: chex.Array  # [S, A]
  terminal: chex.Array  # [S, A] 1 where (s, a) ended the trial
  known: chex.Array  # [S, A] bool, (s, a) experienced
  start: chex.Array  # [S] start distribution (zeros before any)
  terminal_state: chex.Array  # [S] bool, s was reached as a trial's end


def expectations(
    model: tabular.Model, start_count: chex.Array, terminal_state: chex.Array
) -> ModelExpectations:
  """The deterministic model of agents/lib/tabular.py as distributions."""
  num_states = model.next_state.shape[0]
  known = model.tried
  return ModelExpectations(
      transitions=jax.nn.one_hot(model.next_state, num_states)
      * known[..., None],
      reward=jnp.where(known, model.reward, 0.0),
      terminal=jnp.where(known, 1.0 - model.discount, 0.0),
      known=known,
      start=start_count / jnp.maximum(start_count.sum(), 1.0),
      terminal_state=terminal_state,
  )


# ------------------------------------------------------- gain, need, targets


@struct.dataclass
class Policy:
  """The agent's policy over Q (acting, Gain and Need all use it).

  "softmax": pi(a|s) = softmax(beta Q(s, .)); "epsilon_greedy": 1 - epsilon
  on the greedy actions (shared equally among ties), epsilon spread evenly.
  """

  kind: str = struct.field(pytree_node=False, default="softmax")
  inverse_temperature: float = struct.field(pytree_node=False, default=5.0)
  epsilon: float = struct.field(pytree_node=False, default=0.05)

  def __call__(self, q: chex.Array) -> chex.Array:
    if self.kind == "softmax":
      return jax.nn.softmax(self.inverse_temperature * q, axis=-1)
    greedy = (q >= q.max(-1, keepdims=True)).astype(q.dtype)
    greedy = greedy / greedy.sum(-1, keepdims=True)
    return (1.0 - self.epsilon) * greedy + self.epsilon / q.shape[-1]


def gain(q_old: chex.Array, q_new: chex.Array, policy: Policy) -> chex.Array:
  """sum_a [pi_new(a) - pi_old(a)] Q_new(a) at one state (rank-1 inputs)."""
  chex.assert_rank([q_old, q_new], 1)
  chex.assert_equal_shape([q_old, q_new])
  value = jnp.sum((policy(q_new) - policy(q_old)) * q_new)
  # No change, no gain: exactly 0, not the ~1e-9 of two softmaxes that XLA
  # may round differently (it would swamp the 1e-10 baseline gain).
  return jnp.where(jnp.all(q_new == q_old), 0.0, value)


def policy_transitions(
    model: ModelExpectations, policy: chex.Array
) -> chex.Array:
  """T_pi [S, S]: one step of the policy in the learned model.

  A terminal state steps to the learned start distribution (a new trial).
  """
  chex.assert_rank(policy, 2)
  continuing = model.transitions  # terminal outcomes are states too
  step = jnp.einsum("sa,sat->st", policy, continuing)
  return jnp.where(model.terminal_state[:, None], model.start[None, :], step)


def need(
    transitions: chex.Array, state: chex.Array, discount: float
) -> chex.Array:
  """Row `state` of the successor representation (I - gamma T)^-1."""
  chex.assert_rank(transitions, 2)
  num_states = transitions.shape[0]
  system = jnp.eye(num_states) - discount * transitions
  unit = jax.nn.one_hot(state, num_states, dtype=transitions.dtype)
  return jnp.linalg.solve(system.T, unit)


def one_step_targets(
    q: chex.Array, model: ModelExpectations, discount: float
) -> chex.Array:
  """[S, A] expected r + gamma (1 - terminal) max_a' Q(s', a') under the model."""
  next_value = jnp.einsum("sat,t->sa", model.transitions, q.max(-1))
  return model.reward + discount * (1.0 - model.terminal) * next_value


# Changes of a Q-value below this (relative to max(1, |Q|)) are float32
# rounding, not learning: see `resolved_update`.
ROUNDING = 1e-6


def resolved_update(
    old: chex.Array, target: chex.Array, learning_rate: float
) -> chex.Array:
  """old + alpha (target - old), or exactly `old` if the change is rounding.

  The reference code runs in float64, where re-backing-up a converged value
  changes it by ~1e-17 and its Gain stays far below the baseline gain
  (1e-10). In float32 the same change is ~1e-8 and its Gain (first order in
  the change) ~1e-9 would swamp the baseline gain and make replay repeat
  one converged backup; so a change below ROUNDING is no change.
  """
  new = old + learning_rate * (target - old)
  tiny = jnp.abs(new - old) <= ROUNDING * jnp.maximum(1.0, jnp.abs(old))
  return jnp.where(tiny, old, new)


def one_step_gains(
    q: chex.Array, targets: chex.Array, learning_rate: float, policy: Policy
) -> chex.Array:
  """[S, A] gain of backing up each (s, a) toward its target."""
  num_actions = q.shape[-1]
  updated = resolved_update(q, targets, learning_rate)  # [S, A] new Q(s, a)
  eye = jnp.eye(num_actions, dtype=bool)
  # q_new[s, a, :] = Q(s, :) with entry a replaced by the backed-up value.
  q_new = jnp.where(eye[None], updated[:, :, None], q[:, None, :])
  q_old = jnp.broadcast_to(q[:, None, :], q_new.shape)
  per_state = jax.vmap(jax.vmap(gain, (0, 0, None)), (0, 0, None))
  return per_state(q_old, q_new, policy)


def sequence_returns(
    rewards: chex.Array,
    length: chex.Array,
    bootstrap: chex.Array,
    discount: float,
) -> chex.Array:
  """n-step returns G_j = sum_{j<=i<length} gamma^{i-j} r_i + gamma^{length-j} b.

  `rewards` [L] (entries from `length` on are ignored); entries j >= length
  of the result are `bootstrap`.
  """
  chex.assert_rank(rewards, 1)

  def back(carry, inputs):
    j, reward = inputs
    value = jnp.where(j < length, reward + discount * carry, carry)
    return value, value

  positions = jnp.arange(rewards.shape[0])
  _, returns = jax.lax.scan(back, bootstrap, (positions, rewards), reverse=True)
  return returns


# ------------------------------------------------------------------- replay


@struct.dataclass
class ReplayLog:
  """Every backup, in order (entries past the capacity are dropped)."""

  state: chex.Array  # [L] int32 replayed state s_k
  action: chex.Array  # [L] int32 replayed action a_k
  next_state: chex.Array  # [L] int32 most likely outcome of (s_k, a_k)
  step: chex.Array  # [L] int32 env steps the agent had learned from
  trial: chex.Array  # [L] int32 trial (episode) index, from 0
  phase: chex.Array  # [L] int32 0 before a run (start), 1 after (goal)
  sequence_length: chex.Array  # [L] int32 1 = one-step; n = n-step extension
  evb: chex.Array  # [L] float32
  size: chex.Array  # int32 backups made (may exceed L)


def log_init(capacity: int) -> ReplayLog:
  ints = jnp.full((capacity,), -1, jnp.int32)
  return ReplayLog(
      state=ints,
      action=ints,
      next_state=ints,
      step=ints,
      trial=ints,
      phase=ints,
      sequence_length=ints,
      evb=jnp.zeros((capacity,), jnp.float32),
      size=jnp.zeros((), jnp.int32),
  )


LOG_FIELDS = (
    "state",
    "action",
    "next_state",
    "step",
    "trial",
    "phase",
    "sequence_length",
    "evb",
)


def _entries_init(max_backups: int) -> dict[str, chex.Array]:
  """A phase's backups, written into the log in one scatter afterwards."""
  entries = {k: jnp.full((max_backups,), -1, jnp.int32) for k in LOG_FIELDS}
  entries["evb"] = jnp.zeros((max_backups,), jnp.float32)
  return entries


def log_append(
    log: ReplayLog, entries: dict[str, chex.Array], count: chex.Array
) -> ReplayLog:
  """Appends the first `count` of `entries` (past the capacity: dropped)."""
  positions = jnp.arange(entries["state"].shape[0])
  capacity = log.state.shape[0]
  index = jnp.where(positions < count, log.size + positions, capacity)
  fields = {
      k: getattr(log, k).at[index].set(entries[k], mode="drop")
      for k in LOG_FIELDS
  }
  return log.replace(size=log.size + count, **fields)


@struct.dataclass
class Sequence:
  """The sequence the last backups replayed: s_j -a_j-> next_j, j < length."""

  states: chex.Array  # [L] int32
  actions: chex.Array  # [L] int32
  rewards: chex.Array  # [L] float32
  next_states: chex.Array  # [L] int32
  terminal: chex.Array  # float32, the last step ends the trial
  length: chex.Array  # int32


def _empty_sequence(capacity: int) -> Sequence:
  return Sequence(
      states=jnp.full((capacity,), -1, jnp.int32),
      actions=jnp.zeros((capacity,), jnp.int32),
      rewards=jnp.zeros((capacity,), jnp.float32),
      next_states=jnp.full((capacity,), -1, jnp.int32),
      terminal=jnp.zeros((), jnp.float32),
      length=jnp.zeros((), jnp.int32),
  )


@struct.dataclass
class ReplayHyper:
  """Static settings of `replay` (the config keys of the same meaning)."""

  learning_rate: float = struct.field(pytree_node=False)
  discount: float = struct.field(pytree_node=False)
  policy: Policy = struct.field(pytree_node=False)
  min_gain: float = struct.field(pytree_node=False)
  evb_threshold: float = struct.field(pytree_node=False)
  mode: str = struct.field(pytree_node=False)
  n_step: bool = struct.field(pytree_node=False)
  need_model: str = struct.field(pytree_node=False, default="learned")


def argmax_random_ties(key: chex.PRNGKey, values: chex.Array) -> chex.Array:
  """Flat index of a maximum of `values`, ties broken uniformly at random
  (the reference code's `randi` among equal EVMs / equal Q-values)."""
  flat = values.reshape(-1)
  noise = jax.random.uniform(key, flat.shape)
  return jnp.argmax(jnp.where(flat == flat.max(), noise, -1.0))


def _extension(
    q,
    model: ModelExpectations,
    sequence: Sequence,
    key: chex.PRNGKey | None = None,
):
  """The last sequence extended one greedy step, and whether it is allowed.

  The greedy action breaks ties at random with `key` (first index without).
  """
  capacity = sequence.states.shape[0]
  last = jnp.maximum(sequence.length - 1, 0)
  state = sequence.next_states[last]
  safe_state = jnp.maximum(state, 0)
  if key is None:
    action = jnp.argmax(q[safe_state]).astype(jnp.int32)
  else:
    action = argmax_random_ties(key, q[safe_state]).astype(jnp.int32)
  outcome = jnp.argmax(model.transitions[safe_state, action]).astype(jnp.int32)
  in_sequence = jnp.any(
      (sequence.states == outcome) & (jnp.arange(capacity) < sequence.length)
  ) | jnp.any(
      (sequence.next_states == outcome)
      & (jnp.arange(capacity) < sequence.length)
  )
  allowed = (
      (sequence.length > 0)
      & (sequence.length < capacity)
      & (sequence.terminal == 0)
      & model.known[safe_state, action]
      & ~model.terminal_state[safe_state]
      & ~in_sequence
  )
  index = sequence.length
  extended = Sequence(
      states=sequence.states.at[index].set(state, mode="drop"),
      actions=sequence.actions.at[index].set(action, mode="drop"),
      rewards=sequence.rewards.at[index].set(
          model.reward[safe_state, action], mode="drop"
      ),
      next_states=sequence.next_states.at[index].set(outcome, mode="drop"),
      terminal=model.terminal[safe_state, action],
      length=sequence.length + 1,
  )
  return extended, allowed


def _sequence_backup(q, sequence: Sequence, hyper: ReplayHyper):
  """New Q rows [L, A] and gains [L] of an n-step backup along `sequence`."""
  last = jnp.maximum(sequence.length - 1, 0)
  bootstrap = (1.0 - sequence.terminal) * q[
      jnp.maximum(sequence.next_states[last], 0)
  ].max()
  returns = sequence_returns(
      sequence.rewards, sequence.length, bootstrap, hyper.discount
  )
  states = jnp.maximum(sequence.states, 0)
  rows = q[states]  # [L, A]
  chosen = jnp.take_along_axis(rows, sequence.actions[:, None], 1)[:, 0]
  new_value = resolved_update(chosen, returns, hyper.learning_rate)
  new_rows = rows.at[jnp.arange(rows.shape[0]), sequence.actions].set(new_value)
  gains = jax.vmap(gain, (0, 0, None))(rows, new_rows, hyper.policy)
  return new_rows, gains


def sequence_evb(
    need_row: chex.Array,
    sequence: Sequence,
    gains: chex.Array,
    min_gain: chex.Array,
) -> chex.Array:
  """EVB of an n-step backup along `sequence` (its gains [L] per step).

  The reference code's (replaySim.m: `EVM(i) = sum(need{i}(end) .*
  max(gain{i}, baselineGain))`): the Need of the state the appended (last)
  step starts from, times the summed gains of all the sequence's steps.
  """
  valid = jnp.arange(sequence.states.shape[0]) < sequence.length
  appended = jnp.maximum(sequence.states[sequence.length - 1], 0)
  return need_row[appended] * jnp.sum(
      jnp.where(valid, jnp.maximum(gains, min_gain), 0.0)
  )


def replay(
    q: chex.Array,
    expected: ModelExpectations,
    current_state: chex.Array,
    transition_matrix: chex.Array,
    num_backups: chex.Array,
    max_backups: int,
    key: chex.PRNGKey,
    hyper: ReplayHyper,
    threshold: chex.Array | None = None,
) -> tuple[chex.Array, dict[str, chex.Array], chex.Array]:
  """Up to `num_backups` (<= `max_backups`) backups chosen by EVB.

  Need is the row `current_state` of (I - gamma T)^-1, T the learned
  state-transition matrix `transition_matrix` (`need_model` "learned", the
  reference code's; it does not change during replay, so Need is computed
  once) or T_pi of the learned model under the current policy
  (`need_model` "policy", recomputed before every backup). Replay goes on
  while the best EVB exceeds `threshold` (default `hyper.evb_threshold`).

  Returns the new Q, the backups made ([max_backups] arrays of the log's
  fields but step, trial and phase) and their number.
  """
  num_states, num_actions = q.shape
  floor = jnp.float32(hyper.min_gain)
  if threshold is None:
    threshold = jnp.float32(hyper.evb_threshold)
  chex.assert_shape(transition_matrix, (num_states, num_states))
  fixed_need = need(transition_matrix, current_state, hyper.discount)
  # One-step candidates: experienced (s, a) that move (the reference code's
  # `remove_samestate`: bumping into a wall is no memory worth replaying).
  outcomes = jnp.argmax(expected.transitions, -1)
  moves = expected.known & (outcomes != jnp.arange(num_states)[:, None])

  def body(carry):
    q, sequence, entries, count, _, key = carry
    key, pick_key, extend_key = jax.random.split(key, 3)
    targets = one_step_targets(q, expected, hyper.discount)
    if hyper.need_model == "learned":
      need_row = fixed_need
    else:
      need_row = need(
          policy_transitions(expected, hyper.policy(q)),
          current_state,
          hyper.discount,
      )
    if hyper.mode == "random":
      logits = jnp.where(expected.known, 0.0, -jnp.inf).reshape(-1)
      flat = jax.random.categorical(pick_key, logits)
      evb_one = jnp.zeros((num_states, num_actions))
    else:
      gains = one_step_gains(q, targets, hyper.learning_rate, hyper.policy)
      evb_one = need_row[:, None] * jnp.maximum(gains, floor)
      evb_one = jnp.where(moves, evb_one, -jnp.inf)
      flat = argmax_random_ties(pick_key, evb_one)
    best_state = (flat // num_actions).astype(jnp.int32)
    best_action = (flat % num_actions).astype(jnp.int32)
    best_evb = evb_one[best_state, best_action]

    extended, allowed = _extension(q, expected, sequence, extend_key)
    new_rows, seq_gains = _sequence_backup(q, extended, hyper)
    valid = jnp.arange(extended.states.shape[0]) < extended.length
    seq_evb = sequence_evb(need_row, extended, seq_gains, floor)
    use_sequence = (
        allowed
        & (seq_evb > best_evb)
        & (hyper.mode == "prioritized")
        & hyper.n_step
    )
    chosen_evb = jnp.where(use_sequence, seq_evb, best_evb)
    # The reference continues while max EVM > threshold (`EVMthresh`).
    stop = (hyper.mode == "prioritized") & (chosen_evb <= threshold)

    # One-step backup (and the one-step sequence it starts).
    q_one = q.at[best_state, best_action].set(
        resolved_update(
            q[best_state, best_action],
            targets[best_state, best_action],
            hyper.learning_rate,
        )
    )
    outcome = jnp.argmax(expected.transitions[best_state, best_action]).astype(
        jnp.int32
    )
    one = _empty_sequence(sequence.states.shape[0])
    one = one.replace(
        states=one.states.at[0].set(best_state),
        actions=one.actions.at[0].set(best_action),
        rewards=one.rewards.at[0].set(expected.reward[best_state, best_action]),
        next_states=one.next_states.at[0].set(outcome),
        terminal=expected.terminal[best_state, best_action],
        length=jnp.ones((), jnp.int32),
    )
    # n-step backup along the extended sequence (states are distinct).
    seq_states = jnp.where(valid, extended.states, num_states)  # OOB: dropped
    q_seq = q.at[seq_states].set(new_rows, mode="drop")

    new_q = jnp.where(use_sequence, q_seq, q_one)
    new_sequence = jax.tree_util.tree_map(
        lambda a, b: jnp.where(use_sequence, a, b), extended, one
    )
    last = extended.length - 1
    entry = dict(
        state=jnp.where(use_sequence, extended.states[last], best_state),
        action=jnp.where(use_sequence, extended.actions[last], best_action),
        next_state=jnp.where(use_sequence, extended.next_states[last], outcome),
        sequence_length=jnp.where(use_sequence, extended.length, 1),
        evb=chosen_evb,
    )
    entries = {
        k: v.at[jnp.where(stop, max_backups, count)].set(entry[k], mode="drop")
        if k in entry
        else v
        for k, v in entries.items()
    }
    keep = lambda new, old: jax.tree_util.tree_map(  # noqa: E731
        lambda a, b: jnp.where(stop, b, a), new, old
    )
    return (
        keep(new_q, q),
        keep(new_sequence, sequence),
        entries,
        count + jnp.where(stop, 0, 1),
        stop,
        key,
    )

  def cond(carry):
    _, _, _, count, stop, _ = carry
    return (count < num_backups) & ~stop

  # At most one backup per experienced (s, a) is not a limit of the paper;
  # with nothing experienced there is nothing to replay.
  num_backups = jnp.where(moves.any(), num_backups, 0)
  carry = (
      q,
      _empty_sequence(num_states),
      _entries_init(max_backups),
      jnp.zeros((), jnp.int32),
      jnp.zeros((), bool),
      key,
  )
  q, _, entries, count, _, _ = jax.lax.while_loop(cond, body, carry)
  return q, entries, count


# -------------------------------------------------------------------- agent


@struct.dataclass
class MattarDawState:
  q: chex.Array  # [S, A]
  model: tabular.Model  # the deterministic learned model (shared piece)
  start_count: chex.Array  # [S] float32 trials started at s
  terminal_state: chex.Array  # [S] bool, s was reached as a trial's end
  transition_matrix: chex.Array  # [S, S] learned T(s, s') (Need's model)
  reward_sum: chex.Array  # float32 summed reward of real steps
  log: ReplayLog
  step: chex.Array  # int32 env transitions learned from
  trial: chex.Array  # int32 trials started after the first
  key: chex.PRNGKey


def validate_config(config: ml_collections.ConfigDict) -> None:
  if config.replay_mode not in REPLAY_MODES:
    raise UserError(
        f"replay_mode={config.replay_mode!r} is not allowed: it "
        f"must be one of {', '.join(REPLAY_MODES)}"
    )
  if config.replay_mode != "none" and int(config.replay_steps) < 1:
    raise UserError(
        f"replay_steps={config.replay_steps} is not allowed: the "
        "number of planning steps must be an integer >= 1 (use "
        "replay_mode='none' for no replay)"
    )
  if not 0.0 < float(config.learning_rate) <= 1.0:
    raise UserError(
        f"learning_rate={config.learning_rate} is not allowed: "
        "it must be in (0, 1]"
    )
  if not 0.0 <= float(config.gamma) < 1.0:
    raise UserError(
        f"gamma={config.gamma} is not allowed: it must be "
        "in [0, 1) (the successor representation needs < 1)"
    )
  if config.policy not in POLICIES:
    raise UserError(
        f"policy={config.policy!r} is not allowed: it must be "
        f"one of {', '.join(POLICIES)}"
    )
  if not 0.0 <= float(config.epsilon) <= 1.0:
    raise UserError(
        f"epsilon={config.epsilon} is not allowed: it must be " "in [0, 1]"
    )
  if float(config.inverse_temperature) <= 0:
    raise UserError(
        f"inverse_temperature={config.inverse_temperature} is not "
        "allowed: it must be > 0"
    )
  if config.need_model not in NEED_MODELS:
    raise UserError(
        f"need_model={config.need_model!r} is not allowed: it "
        f"must be one of {', '.join(NEED_MODELS)}"
    )
  if not 0.0 < float(config.transition_learning_rate) <= 1.0:
    raise UserError(
        f"transition_learning_rate="
        f"{config.transition_learning_rate} is not allowed: it "
        "must be in (0, 1]"
    )
  if int(config.replay_log_size) < 1:
    raise UserError(
        f"replay_log_size={config.replay_log_size} is not "
        "allowed: it must be an integer >= 1"
    )


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  del run  # no schedule over learn calls
  validate_config(config)
  num_states, num_actions = tabular.check_specs("mattar_daw", specs)
  hyper = ReplayHyper(
      learning_rate=float(config.learning_rate),
      discount=float(config.gamma),
      policy=Policy(
          kind=str(config.policy),
          inverse_temperature=float(config.inverse_temperature),
          epsilon=float(config.epsilon),
      ),
      min_gain=float(config.min_gain),
      evb_threshold=float(config.evb_threshold),
      mode=str(config.replay_mode),
      n_step=bool(config.n_step_extension),
      need_model=str(config.need_model),
  )
  transition_rate = float(config.transition_learning_rate)
  replay_steps = 0 if hyper.mode == "none" else int(config.replay_steps)

  def init(key, env_specs):
    del env_specs
    return MattarDawState(
        q=jnp.zeros((num_states, num_actions), jnp.float32),
        model=tabular.init_state(num_states, num_actions, 1).model,
        start_count=jnp.zeros((num_states,), jnp.float32),
        terminal_state=jnp.zeros((num_states,), bool),
        transition_matrix=jnp.zeros((num_states, num_states), jnp.float32),
        reward_sum=jnp.zeros((), jnp.float32),
        log=log_init(int(config.replay_log_size)),
        step=jnp.zeros((), jnp.int32),
        trial=jnp.zeros((), jnp.int32),
        key=key,
    )

  def actor_params(state):
    return state.q

  def act(q, actor_state, timestep, key, evaluation):
    values = q[jnp.asarray(timestep.observation, jnp.int32)]
    if evaluation:
      action = jnp.argmax(values)
    else:
      action = jax.random.categorical(key, jnp.log(hyper.policy(values)))
    return action.astype(jnp.int32), actor_state, ()

  def process(state: MattarDawState, inputs):
    transition, ends_trial = inputs
    s_next = transition.next_state
    is_reset = ~transition.valid  # LAST -> FIRST: a trial starts at s_next
    terminal = transition.discount == 0
    # Online Q-learning and model update (a real transition only).
    q, _ = tabular.q_backup(
        state.q,
        transition.state,
        transition.action,
        transition.reward,
        transition.discount,
        s_next,
        hyper.learning_rate,
        hyper.discount,
        valid=transition.valid,
    )
    step = state.step + jnp.where(is_reset, 0, 1)
    model = tabular.update_model(state.model, transition, step)
    start_count = state.start_count.at[s_next].add(is_reset.astype(jnp.float32))
    terminal_state = state.terminal_state.at[s_next].set(
        state.terminal_state[s_next] | (terminal & transition.valid)
    )
    trial = state.trial + is_reset.astype(jnp.int32)
    # The learned T (reference: replaySim.m, `TLearnRate`): each real step
    # moves row s toward s'; a trial's end (goal -> next start, the reset)
    # too, the reference's `Tgoal2start`.
    moved = transition.valid | (
        is_reset & state.terminal_state[transition.state]
    )
    row = state.transition_matrix[transition.state]
    row = row + transition_rate * (jax.nn.one_hot(s_next, num_states) - row)
    transition_matrix = state.transition_matrix.at[transition.state].set(
        jnp.where(moved, row, state.transition_matrix[transition.state])
    )
    reward_sum = state.reward_sum + jnp.where(
        transition.valid, transition.reward, 0.0
    )
    replay_now = is_reset | ends_trial
    phase = jnp.where(is_reset, PHASE_BEFORE_RUN, PHASE_AFTER_RUN)
    # Need is taken from where the agent is when it replays (the reference's
    # `sti`): the start state before a run; after reward, the state it left
    # to enter the goal (the reference plans before it moves its position).
    need_state = jnp.where(is_reset, s_next, transition.state)
    # The reference's threshold: min(opportunity cost, EVMthresh), the
    # opportunity cost being the mean reward per experienced step.
    threshold = jnp.minimum(
        reward_sum / jnp.maximum(step, 1), hyper.evb_threshold
    )
    key, replay_key = jax.random.split(state.key)
    q, entries, count = replay(
        q,
        expectations(model, start_count, terminal_state),
        need_state,
        transition_matrix,
        jnp.where(replay_now, replay_steps, 0),
        max(replay_steps, 1),
        replay_key,
        hyper,
        threshold,
    )
    entries.update(
        step=jnp.full_like(entries["step"], step),
        trial=jnp.full_like(entries["trial"], trial),
        phase=jnp.full_like(entries["phase"], phase),
    )
    log = log_append(state.log, entries, count)
    return (
        MattarDawState(
            q=q,
            model=model,
            start_count=start_count,
            terminal_state=terminal_state,
            transition_matrix=transition_matrix,
            reward_sum=reward_sum,
            log=log,
            step=step,
            trial=trial,
            key=key,
        ),
        (),
    )

  def learn(state, trajectory: types.Trajectory, key):
    del key  # the agent's own key stream lives in its state
    # [T, B] -> [T * B] in time order, env by env within a time step.
    transitions = tabular.transitions(trajectory)
    ends_trial = trajectory.timestep.last()[1:].reshape(-1)
    size_before = state.log.size
    state, _ = jax.lax.scan(process, state, (transitions, ends_trial))
    metrics = {
        "replay_backups": (state.log.size - size_before).astype(jnp.float32),
        "trials": state.trial.astype(jnp.float32),
    }
    metrics = jax.lax.pmean(metrics, types.DEVICE_AXIS)
    return state, metrics

  return types.Agent(
      name="mattar_daw",
      init=init,
      actor_params=actor_params,
      initial_actor_state=types.no_actor_state,
      act=act,
      learn=learn,
  )
