"""The tasks of the dopamine experiments, plus a two-peaked task for deep agents.

* `VariableMagnitude` -- Dabney, Kurth-Nelson, Uchida et al., "A distributional
  code for value in dopamine-based reinforcement learning", Nature 577, 671-675
  (2020), Fig. 2-5; the task design is Eshel, Tian, Bukwich & Uchida, "Dopamine
  neurons share common response function for reward prediction error", Nature
  Neuroscience 19 (2016). Water rewards of 0.1, 0.3, 1.2, 2.5, 5, 10, 20 ul with
  probabilities 0.066, 0.091, 0.149, 0.155, 0.312, 0.151, 0.077, delivered
  without a cue (the recordings in `shared/data/dabney2020`) or after an
  odour cue.
* `VariableProbability` -- Dabney et al. 2020 Fig. 4 and Extended Data Fig. 7:
  three odour cues predict a reward of fixed size with probability 10%, 50%
  and 90%. The odour-cue designs are the Uchida lab's (Eshel et al., Nature 525
  (2015); Eshel et al. 2016; Starkweather et al., Nature Neuroscience 20
  (2017)); which of those sessions the figure's cells came from is not
  restated here -- check the paper's Methods before citing one.
* `JumpTheGap` -- the two-peaked example of SCIENCE.md section 1: a runner
  jumping a gap either lands or falls, so the optimal policy's return has two
  peaks and the mean lies where no return ever falls.

Pavlovian trials (the first two tasks). One trial is one episode; the action
is a dummy (`DiscreteArray(1)`). A trial walks through a fixed chain of time
steps, the "complete serial compound" (tapped delay line) that lets TD move
value from the reward back to the cue:

  t = 0 .. pre_cue_steps - 1            pre-cue states (no cue yet; shared)
  t = pre_cue_steps                     cue onset: the trial's cue ("line") shows
  t = pre_cue_steps + 1 .. + delay_steps  the delay after the cue
  the step out of the last state        reward drawn from the line's distribution,
                                        LAST with discount 0 (terminated)

so a trial has `trial_steps = pre_cue_steps + delay_steps + 1` steps and every
reward but the last is 0. The observation is a one-hot vector over the task's
`num_states` states: (time step x cue) -- one delay line per cue, i.e. the
within-trial time one-hot carried on the line of the cue that is showing --
plus the pre-cue states and one end-of-trial state (the observation that comes
with the LAST step; its value is never learned since the discount is 0). Being
one-hot, the observation indexes a state table directly (`argmax`), which is
what the tabular population model in `agents/distributional_td.py` uses. The
state indices are exposed (`cue_state`, `reward_state`, `trial_states`) so an
analysis can read a learned value table without hard-coding the layout.

`VariableMagnitude` has two lines: 0 = uncued trials, 1 = cued trials (the cue
is the cue indicator); `cued_fraction` of trials are cued. Rewards have the
same distribution on both lines. `VariableProbability` has one line per cue,
drawn uniformly, each with reward `reward_magnitude` with its probability, else
0. For the inter-trial interval (an unpredictable time, value 0) the end state
stands in; the RPE at cue onset is then gamma * V(cue) - V(pre-cue state), with
V(pre-cue) = 0 when `pre_cue_steps = 0`.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs
from flax import struct

from environments import base

# Reward sizes (ul) and their probabilities in Dabney et al. 2020 (Fig. 5).
DABNEY2020_REWARD_SIZES = (0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0)
DABNEY2020_REWARD_PROBS = (0.066, 0.091, 0.149, 0.155, 0.312, 0.151, 0.077)


def _as_float_tuple(values) -> tuple[float, ...]:
  return tuple(float(v) for v in values)


@struct.dataclass
class TrialState:
  line: chex.Array  # int32: which cue this trial shows (uncued counts as one).
  t: chex.Array  # int32: time step within the trial, 0 .. trial_steps.


@dataclasses.dataclass(frozen=True)
class PavlovianTask(base.Environment):
  """Shared machinery of the Pavlovian tasks (see the module docstring).

  A subclass defines `line_probabilities()` (which cue a trial shows),
  `outcomes()` (the possible rewards) and `outcome_probabilities()` (one row of
  probabilities over `outcomes()` per line), all as numpy arrays.
  """

  delay_steps: int = 0
  pre_cue_steps: int = 0

  def __post_init__(self):
    if self.delay_steps < 0 or self.pre_cue_steps < 0:
      raise ValueError(
          f"{self.name}: delay_steps ({self.delay_steps}) and pre_cue_steps "
          f"({self.pre_cue_steps}) must be >= 0."
      )

  # ---- to implement (static, numpy) ---------------------------------------
  def line_probabilities(self) -> np.ndarray:
    raise NotImplementedError

  def outcomes(self) -> np.ndarray:
    raise NotImplementedError

  def outcome_probabilities(self) -> np.ndarray:
    raise NotImplementedError

  # ---- state layout ---------------------------------------------------------
  @property
  def num_lines(self) -> int:
    return int(len(self.line_probabilities()))

  @property
  def trial_steps(self) -> int:
    """Environment steps in a trial (the last one delivers the reward)."""
    return self.pre_cue_steps + self.delay_steps + 1

  @property
  def max_trial_steps(self) -> int:
    return self.trial_steps

  @property
  def end_state(self) -> int:
    return self.pre_cue_steps + self.num_lines * (self.delay_steps + 1)

  @property
  def num_states(self) -> int:
    return self.end_state + 1

  def state_index(self, line, t):
    """Index of the state at time step t of a trial on `line` (traceable)."""
    on_line = (
        self.pre_cue_steps
        + line * (self.delay_steps + 1)
        + (t - self.pre_cue_steps)
    )
    index = jnp.where(t < self.pre_cue_steps, t, on_line)
    return jnp.where(t >= self.trial_steps, self.end_state, index)

  def cue_state(self, line: int) -> int:
    """The state at cue onset on `line`."""
    return self.pre_cue_steps + line * (self.delay_steps + 1)

  def reward_state(self, line: int) -> int:
    """The last state of a trial on `line`: its value predicts the reward."""
    return self.cue_state(line) + self.delay_steps

  def baseline_state(self) -> int | None:
    """The state just before cue onset (None: the inter-trial interval)."""
    return self.pre_cue_steps - 1 if self.pre_cue_steps > 0 else None

  def trial_states(self) -> np.ndarray:
    """(num_lines, trial_steps) int32: the states a trial on each line visits."""
    pre = list(range(self.pre_cue_steps))
    return np.asarray(
        [
            pre + [self.cue_state(c) + k for k in range(self.delay_steps + 1)]
            for c in range(self.num_lines)
        ],
        np.int32,
    )

  def reward_distribution(self, line: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(values, probabilities) of the reward at the end of a trial on `line`."""
    return self.outcomes(), self.outcome_probabilities()[line]

  # ---- the contract ---------------------------------------------------------
  def _observation(self, s: TrialState) -> chex.Array:
    return jax.nn.one_hot(
        self.state_index(s.line, s.t), self.num_states, dtype=jnp.float32
    )

  def _reset(self, key):
    line_logits = jnp.log(jnp.asarray(self.line_probabilities(), jnp.float32))
    s = TrialState(
        line=jax.random.categorical(key, line_logits).astype(jnp.int32),
        t=jnp.zeros((), jnp.int32),
    )
    return s, self._observation(s)

  def _step(self, s: TrialState, action, key):
    del action  # Pavlovian: the reward does not depend on the animal.
    s = TrialState(line=s.line, t=s.t + 1)
    terminated = s.t >= self.trial_steps
    outcome_logits = jnp.log(
        jnp.asarray(self.outcome_probabilities(), jnp.float32)
    )[s.line]
    outcome = jnp.asarray(self.outcomes(), jnp.float32)[
        jax.random.categorical(key, outcome_logits)
    ]
    reward = jnp.where(terminated, outcome, 0.0)
    return s, self._observation(s), reward, terminated

  def observation_spec(self):
    return specs.BoundedArray(
        (self.num_states,),
        jnp.float32,
        minimum=0.0,
        maximum=1.0,
        name="observation",
    )

  def action_spec(self):
    return specs.DiscreteArray(1, dtype=jnp.int32, name="action")


@dataclasses.dataclass(frozen=True)
class VariableMagnitude(PavlovianTask):
  """Rewards of variable size, uncued (line 0) or after a cue (line 1).

  Fields: `reward_sizes`, `reward_probs` (normalised here), `cued_fraction`
  (default 0: the uncued trials of the recordings), `delay_steps` (cue onset
  to reward state; 0 = a one-step trial) and `pre_cue_steps`.
  """

  reward_sizes: tuple[float, ...] = DABNEY2020_REWARD_SIZES
  reward_probs: tuple[float, ...] = DABNEY2020_REWARD_PROBS
  cued_fraction: float = 0.0

  UNCUED = 0
  CUED = 1

  def __post_init__(self):
    super().__post_init__()
    object.__setattr__(self, "reward_sizes", _as_float_tuple(self.reward_sizes))
    object.__setattr__(self, "reward_probs", _as_float_tuple(self.reward_probs))
    if (
        len(self.reward_sizes) != len(self.reward_probs)
        or not self.reward_sizes
    ):
      raise ValueError(
          f"{self.name}: reward_sizes ({len(self.reward_sizes)}) and "
          f"reward_probs ({len(self.reward_probs)}) need the same, non-zero "
          "length."
      )
    if min(self.reward_probs) < 0 or sum(self.reward_probs) <= 0:
      raise ValueError(
          f"{self.name}: reward_probs must be >= 0 with a "
          f"positive sum, got {self.reward_probs}."
      )
    if not 0.0 <= self.cued_fraction <= 1.0:
      raise ValueError(
          f"{self.name}: cued_fraction must lie in [0, 1], got "
          f"{self.cued_fraction}."
      )

  def line_probabilities(self):
    return np.asarray([1.0 - self.cued_fraction, self.cued_fraction])

  def outcomes(self):
    return np.asarray(self.reward_sizes)

  def outcome_probabilities(self):
    probs = np.asarray(self.reward_probs) / np.sum(self.reward_probs)
    return np.stack([probs, probs])


@dataclasses.dataclass(frozen=True)
class VariableProbability(PavlovianTask):
  """Three cues (lines 0, 1, 2), drawn uniformly, predict a reward of
  `reward_magnitude` with `reward_probabilities` (default 10%, 50%, 90%)."""

  reward_probabilities: tuple[float, ...] = (0.1, 0.5, 0.9)
  reward_magnitude: float = 1.0
  delay_steps: int = 2

  def __post_init__(self):
    super().__post_init__()
    object.__setattr__(
        self, "reward_probabilities", _as_float_tuple(self.reward_probabilities)
    )
    if not self.reward_probabilities or not all(
        0.0 <= p <= 1.0 for p in self.reward_probabilities
    ):
      raise ValueError(
          f"{self.name}: reward_probabilities must be a non-empty "
          f"tuple in [0, 1], got {self.reward_probabilities}."
      )

  def line_probabilities(self):
    n = len(self.reward_probabilities)
    return np.full((n,), 1.0 / n)

  def outcomes(self):
    return np.asarray([0.0, self.reward_magnitude])

  def outcome_probabilities(self):
    p = np.asarray(self.reward_probabilities)
    return np.stack([1.0 - p, p], axis=1)


@struct.dataclass
class RunnerState:
  position: chex.Array  # int32


@dataclasses.dataclass(frozen=True)
class JumpTheGap(base.Environment):
  """A runner on a track of `num_positions` cells with a one-cell gap.

  The runner starts at position 0; the gap is the cell `edge_position + 1`;
  the goal is the last cell. Actions: 0 = run (one cell forward), 1 = jump.

  * before the edge: run moves on (reward 0); a jump lands in front of the gap
    too early and the runner falls (reward `fall_reward`, terminated);
  * at the edge: running on falls into the gap; a jump clears it with
    probability `landing_probability` (to `edge_position + 2`, reward 0, or
    `goal_reward` if that is the goal) and falls otherwise;
  * past the gap: run and jump both move one cell on; reaching the goal gives
    `goal_reward` and terminates.

  A fall ends in the gap cell and the goal in the last cell; those are the
  observations of the LAST step. The observation is the one-hot of the
  position. Every action moves forward or ends the episode, so an episode has
  at most `num_positions - 2` steps (6 by default).

  Optimal policy (for fall_reward < 0 <= goal_reward and landing_probability >
  0): run, jump at the edge, run on (`optimal_action`). Its discounted return
  from the start, sum_t gamma^t r_{t+1}, takes two values:

    fall: gamma^edge_position * fall_reward              w.p. 1 - landing_probability
    land: gamma^(num_positions - 3) * goal_reward        w.p. landing_probability

  (`true_return_distribution(gamma)`). With the defaults and gamma = 0.9 these
  are -0.729 (p = 0.4) and 0.59 (p = 0.6): the mean, 0.063, is a return that
  never happens -- the value classical TD learns, while a distributional
  learner sees both peaks.
  """

  num_positions: int = 8
  edge_position: int = 3
  landing_probability: float = 0.6
  goal_reward: float = 1.0
  fall_reward: float = -1.0

  RUN = 0
  JUMP = 1

  def __post_init__(self):
    if self.edge_position < 0 or self.num_positions < self.edge_position + 3:
      raise ValueError(
          f"{self.name}: need 0 <= edge_position and num_positions >= "
          f"edge_position + 3 (edge, gap, landing cell), got num_positions="
          f"{self.num_positions}, edge_position={self.edge_position}."
      )
    if not 0.0 <= self.landing_probability <= 1.0:
      raise ValueError(
          f"{self.name}: landing_probability must lie in [0, 1], "
          f"got {self.landing_probability}."
      )

  @property
  def gap_position(self) -> int:
    return self.edge_position + 1

  @property
  def goal_position(self) -> int:
    return self.num_positions - 1

  @property
  def num_states(self) -> int:
    return self.num_positions

  @property
  def max_trial_steps(self) -> int:
    return self.num_positions - 2

  def _observation(self, position) -> chex.Array:
    return jax.nn.one_hot(position, self.num_positions, dtype=jnp.float32)

  def _reset(self, key):
    del key
    s = RunnerState(position=jnp.zeros((), jnp.int32))
    return s, self._observation(s.position)

  def _step(self, s: RunnerState, action, key):
    position = s.position
    jump = jnp.asarray(action) == self.JUMP
    at_edge = position == self.edge_position
    before_edge = position < self.edge_position
    lands = jax.random.uniform(key) < self.landing_probability
    falls = jnp.where(
        at_edge, jnp.logical_not(jump & lands), before_edge & jump
    )
    new_position = jnp.where(
        falls,
        self.gap_position,
        jnp.where(at_edge, self.edge_position + 2, position + 1),
    )
    reached_goal = jnp.logical_not(falls) & (new_position == self.goal_position)
    reward = jnp.where(
        falls, self.fall_reward, jnp.where(reached_goal, self.goal_reward, 0.0)
    )
    terminated = falls | reached_goal
    return (
        RunnerState(position=new_position.astype(jnp.int32)),
        self._observation(new_position),
        reward,
        terminated,
    )

  def observation_spec(self):
    return specs.BoundedArray(
        (self.num_positions,),
        jnp.float32,
        minimum=0.0,
        maximum=1.0,
        name="observation",
    )

  def action_spec(self):
    return specs.DiscreteArray(2, dtype=jnp.int32, name="action")

  def optimal_action(self, observation: chex.Array) -> chex.Array:
    """Run everywhere, jump at the edge (traceable; see the class docstring)."""
    at_edge = jnp.argmax(observation, axis=-1) == self.edge_position
    return jnp.where(at_edge, self.JUMP, self.RUN).astype(jnp.int32)

  def true_return_distribution(
      self, gamma: float
  ) -> tuple[np.ndarray, np.ndarray]:
    """(values, probs), values ascending: the optimal policy's discounted
    return from the start state (two atoms; see the class docstring)."""
    fall = gamma**self.edge_position * self.fall_reward
    land = gamma ** (self.num_positions - 3) * self.goal_reward
    values = np.asarray([fall, land], np.float64)
    probs = np.asarray(
        [1.0 - self.landing_probability, self.landing_probability], np.float64
    )
    order = np.argsort(values, kind="stable")
    return values[order], probs[order]
