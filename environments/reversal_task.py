"""A reversal task in which the value of an unseen target can only be inferred.

Papers:
  E. S. Bromberg-Martin, M. Matsumoto, S. Hong, O. Hikosaka. "A pallidus-
  habenula-dopamine pathway signals inferred stimulus values". Journal of
  Neurophysiology 104 (2010) (the one-direction-rewarded saccade task with
  unsignalled reversals).
  J. X. Wang et al. "Prefrontal cortex as a meta-reinforcement learning
  system". Nature Neuroscience 21 (2018), Fig. 4 (the meta-RL agent's reward
  prediction errors reflect inferred, not only experienced, value).

One episode is one task instance: `num_trials` trials, each of two steps.
  1. fixation step (observation [1, 0, 0]): the action is ignored and the
     reward is 0. The target of the coming trial is drawn now: target 0 or
     target 1 with equal chance, independently on every trial (forced
     trials: only one target is shown).
  2. target step (observation [0, 1, 0] for target 0, [0, 0, 1] for target
     1): the agent "saccades" with its action. Action == the shown target
     collects the target's outcome: `rewarded_value` (1) if the target is the
     currently rewarded one, `unrewarded_value` (0) otherwise; any other
     action is an error and gives `unrewarded_value`.
  Exactly one target is rewarded at a time; which one is drawn at reset.
  After every trial's outcome the contingency reverses (the other target
  becomes the rewarded one) with probability `reversal_probability`,
  effective from the next trial. Nothing signals a reversal.

The structure makes inference possible: after a reversal, one unrewarded
trial on the formerly rewarded target tells an agent that knows the task's
structure that the other target, not yet seen since the reversal, is now the
rewarded one. A model-free learner caching one value per target cannot know
it until it has experienced that target (see agents/analysis/wang2018_rpe.py).

An episode is 2 * num_trials steps, the step completing the last trial
terminates (discount 0). Conventions as in environments/meta_rl_tasks.py:
the helpers read the state an action is taken from and describe the trial
that action belongs to; on the reset step after LAST they mark "not a trial".
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
from dm_env import specs
from flax import struct

from environments import base

FIXATION, TARGET_0, TARGET_1 = 0, 1, 2  # observation one-hot positions


def _inner(state):
  return state.inner if isinstance(state, base.EnvState) else state


def _is_trial_state(state) -> jax.Array:
  if isinstance(state, base.EnvState):
    return jnp.logical_not(state.last)
  return jnp.ones((), bool)


@struct.dataclass
class ReversalState:
  trial: chex.Array  # int32, trials completed so far
  target_phase: chex.Array  # bool, the next action responds to a target
  shown_target: chex.Array  # int32, this trial's target (in the target phase)
  rewarded_target: chex.Array  # int32, the target rewarded on this trial
  reversals: chex.Array  # int32, reversals so far in this episode


@dataclasses.dataclass(frozen=True)
class ReversalTask(base.Environment):
  """Two targets, one rewarded, unsignalled reversals; forced trials."""

  num_trials: int = 50
  reversal_probability: float = 0.1
  rewarded_value: float = 1.0
  unrewarded_value: float = 0.0

  def __post_init__(self):
    if self.num_trials < 1:
      raise ValueError(f"num_trials must be >= 1, got {self.num_trials}")
    if not 0.0 <= self.reversal_probability <= 1.0:
      raise ValueError(
          "reversal_probability must be in [0, 1], got "
          f"{self.reversal_probability}"
      )

  # ---- analysis helpers -----------------------------------------------------
  def trial_index(self, state) -> chex.Array:
    """Index of the trial that the action taken from `state` belongs to."""
    return _inner(state).trial

  def is_target_step(self, state) -> chex.Array:
    """Whether the action taken from `state` responds to a shown target."""
    return jnp.logical_and(_inner(state).target_phase, _is_trial_state(state))

  def shown_target(self, state) -> chex.Array:
    """The target shown on this trial (meaningful at a target step)."""
    return _inner(state).shown_target

  def rewarded_target(self, state) -> chex.Array:
    """The target that is rewarded on this trial."""
    return _inner(state).rewarded_target

  def reversals(self, state) -> chex.Array:
    """Reversals that happened in this episode before this trial."""
    return _inner(state).reversals

  # ---- the task -------------------------------------------------------------
  @staticmethod
  def _observation(s: ReversalState) -> chex.Array:
    position = jnp.where(s.target_phase, TARGET_0 + s.shown_target, FIXATION)
    return jax.nn.one_hot(position, 3, dtype=jnp.float32)

  def _reset(self, key):
    zero = jnp.zeros((), jnp.int32)
    s = ReversalState(
        trial=zero,
        target_phase=jnp.zeros((), bool),
        shown_target=zero,
        rewarded_target=jax.random.randint(key, (), 0, 2),
        reversals=zero,
    )
    return s, self._observation(s)

  def _step(self, s: ReversalState, action, key):
    target_key, reversal_key = jax.random.split(key)
    action = jnp.asarray(action, jnp.int32)
    responding = s.target_phase
    # Fixation step: draw the coming trial's target.
    new_target = jax.random.randint(target_key, (), 0, 2)
    # Target step: the outcome, then the (unsignalled) reversal.
    collected = jnp.logical_and(
        action == s.shown_target, s.shown_target == s.rewarded_target
    )
    outcome = jnp.where(collected, self.rewarded_value, self.unrewarded_value)
    reverse = jax.random.bernoulli(reversal_key, self.reversal_probability)
    trial = jnp.where(responding, s.trial + 1, s.trial)
    s = s.replace(
        trial=trial,
        target_phase=jnp.logical_not(responding),
        shown_target=jnp.where(responding, s.shown_target, new_target),
        rewarded_target=jnp.where(
            jnp.logical_and(responding, reverse),
            1 - s.rewarded_target,
            s.rewarded_target,
        ),
        reversals=s.reversals
        + jnp.logical_and(responding, reverse).astype(jnp.int32),
    )
    reward = jnp.where(responding, outcome, 0.0).astype(jnp.float32)
    terminated = jnp.logical_and(responding, trial >= self.num_trials)
    return s, self._observation(s), reward, terminated

  def observation_spec(self):
    return specs.BoundedArray(
        (3,), jnp.float32, minimum=0.0, maximum=1.0, name="observation"
    )

  def action_spec(self):
    return specs.DiscreteArray(2, dtype=jnp.int32, name="action")
