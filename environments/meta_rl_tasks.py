"""The meta-RL task distributions of Wang et al. (2016, 2018).

Papers:
  J. X. Wang, Z. Kurth-Nelson, D. Tirumala, H. Soyer, J. Z. Leibo, R. Munos,
  C. Blundell, D. Kumaran, M. Botvinick. "Learning to reinforcement learn".
  arXiv:1611.05763 (2016).
  J. X. Wang, Z. Kurth-Nelson, D. Kumaran, D. Tirumala, H. Soyer, J. Z. Leibo,
  D. Hassabis, M. Botvinick. "Prefrontal cortex as a meta-reinforcement
  learning system". Nature Neuroscience 21, 860-868 (2018).
  Task sources: T. E. J. Behrens et al. "Learning the value of information in
  an uncertain world", Nat. Neurosci. 10 (2007) (volatile bandit);
  H. F. Harlow, "The formation of learning sets", Psychol. Rev. 56 (1949);
  N. D. Daw et al. "Model-based influences on humans' choices and striatal
  prediction errors", Neuron 69 (2011) (two-step task).

One episode is one task instance (one bandit, one pair of Harlow objects, one
two-step reward schedule), so an agent resets its recurrent core at FIRST. The
observation is only what the task shows; the meta-RL agent itself appends the
previous action (one-hot) and the previous reward. Every task terminates
(discount 0) on the step that completes its last trial; the step after that
LAST step starts a new task instance (see `environments/base.py`).

Conventions shared by all four tasks, relied on by the analysis helpers:

* `state_t` is the `EnvState` from which the agent takes `action_t`; the
  helpers (`arm_probabilities`, `trial_index`, `correct_action`, ...) read
  `state_t` and describe the trial that `action_t` belongs to. The reward
  that follows `action_t` arrives in the timestep returned by that `step`.
* On the state whose previous timestep was LAST (`state.last`) the action is
  ignored by the contract (the step resets); helpers mark such states as
  "not a trial" (`expected_regret` is 0, `is_choice_step` is False, ...).
* Trial indices count from 0.

TwoArmedBandit (Wang 2016 sec. 3.1; Wang 2018 Fig. 1):
  `num_trials` steps, one per trial. Action a in {0, 1} pulls arm a; the reward
  is 1 with probability p_a, else 0. (p_0, p_1) are drawn at reset from
  `arm_distribution`:
    'independent'        p_0, p_1 ~ U[0, 1] independently;
    'dependent_uniform'  p_0 ~ U[0, 1], p_1 = 1 - p_0;
    'easy'               p_0 in {0.1, 0.9} equally likely, p_1 = 1 - p_0;
    'medium'             p_0 in {0.25, 0.75}, p_1 = 1 - p_0;
    'hard'               p_0 in {0.4, 0.6}, p_1 = 1 - p_0.
  The probabilities stay fixed for the episode. The observation is a 1-vector:
  the trial index of the NEXT pull divided by `num_trials` (0 at FIRST, 1 on
  the LAST step) if `observe_trial_index`, else the constant 1.

RestlessBandit (Wang 2018 Fig. 3, after Behrens et al. 2007):
  Same trial structure and observation as TwoArmedBandit, but the arm
  probabilities change within an episode at a rate, the volatility v, that is
  drawn once per episode uniformly from `volatilities`. Trial t is rewarded
  with the probabilities p(t) in force on that trial; after the trial they
  move to p(t + 1) by `drift_process`:
    'switch' (default; Behrens et al.'s design): the arms have reward
        probabilities `switch_reward_probabilities` = (high, low); which arm is
        the high one is drawn at reset, and after every trial the two swap
        with probability v (v is a hazard rate, in [0, 1]).
    'random_walk' (a restless bandit, as in Daw et al. 2006): p_0(0) ~ U[0, 1];
        after every trial p_0 <- reflect(p_0 + v * N(0, 1)), where reflect
        folds the real line onto [0, 1] by mirror reflection at 0 and 1 (v is
        a standard deviation per trial). With `dependent_arms`, p_1 = 1 - p_0;
        otherwise p_1 starts from its own U[0, 1] draw and walks independently.
  `arm_probabilities(state)` and `volatility(state)` expose p(t) and v.

Harlow (Harlow 1949; Wang 2018 Fig. 6, with feature vectors for images):
  A pool of `num_objects` objects is a fixed (num_objects, object_dim) array
  of U[0, 1) features generated from `object_seed` with NumPy's PCG64. Objects
  [0, num_train_objects) form the 'train' split, the rest the held-out 'test'
  split (`split`). Each episode draws two distinct objects of its split, and
  one of the two (equal chance) is the rewarded object for the whole episode.
  Each of the `num_trials` trials takes two steps:
    1. fixation step: the screen shows no objects (features 0) and the
       fixation indicator 1. Any action "fixates"; the reward is 0. The sides
       of the coming choice are drawn now: the rewarded object is on the left
       with probability 1/2, independently on every trial.
    2. choice step: the screen shows [left object, right object] and the
       indicator 0. Action 0 chooses the left object, action 1 the right one;
       the reward is +1 for the rewarded object, -1 for the other.
  Observation: concat(left features, right features, [fixation indicator]),
  shape (2 * object_dim + 1,). An episode is 2 * num_trials steps; its LAST
  observation is the (unused) next fixation screen. The action space is
  DiscreteArray(2) at both steps: there is no separate fixate action, so a
  fixation cannot be failed and every episode has the same length.

TwoStep (Daw et al. 2011 as simplified by Wang 2018 Fig. 5):
  Each of the `num_trials` trials takes two steps:
    1. stage 1 (observation one-hot [1, 0, 0]): action a1 in {0, 1} leads to
       stage-2 state A (index 0) or B (index 1). With probability
       `common_probability` the transition is common (a1 = 0 -> A,
       a1 = 1 -> B), otherwise rare (a1 = 0 -> B, a1 = 1 -> A). Reward 0.
    2. stage 2 (observation [0, 1, 0] in A, [0, 0, 1] in B): any action
       (both actions are equivalent) gives reward 1 with the state's reward
       probability, else 0. One state, the better one, rewards with
       `reward_probabilities[0]` (0.9), the other with
       `reward_probabilities[1]` (0.1); which is better is drawn at reset, and
       after every trial's outcome the assignment swaps with probability
       `swap_probability`, effective from the next trial.
  An episode is 2 * num_trials steps. `previous_trial(state)` exposes the last
  completed trial (stage-1 action, common or rare, rewarded), so at a stage-1
  state the action taken is a "stay" iff it equals that trial's stage-1
  action; `trials_from_episode` rebuilds the same records from logged
  (observations, actions, rewards) of one episode.
"""

from __future__ import annotations

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs
from flax import struct

from environments import base

ARM_DISTRIBUTIONS = (
    "independent",
    "dependent_uniform",
    "easy",
    "medium",
    "hard",
)
# p_0 for the dependent two-point distributions; p_1 = 1 - p_0.
_TWO_POINT_ARMS = {
    "easy": (0.1, 0.9),
    "medium": (0.25, 0.75),
    "hard": (0.4, 0.6),
}
DRIFT_PROCESSES = ("switch", "random_walk")
HARLOW_SPLITS = ("train", "test")


def _inner(state):
  """The task's own state, from an `EnvState` or from an inner state."""
  return state.inner if isinstance(state, base.EnvState) else state


def _is_trial_state(state) -> jax.Array:
  """False on the reset step that follows LAST (its action is ignored)."""
  if isinstance(state, base.EnvState):
    return jnp.logical_not(state.last)
  return jnp.ones((), bool)


def _bandit_observation(trial, num_trials: int, observe_trial_index: bool):
  if observe_trial_index:
    return (jnp.asarray(trial, jnp.float32) / num_trials)[None]
  return jnp.ones((1,), jnp.float32)


def _check_probability(name: str, value: float):
  if not 0.0 <= value <= 1.0:
    raise ValueError(f"{name} must be in [0, 1], got {value}")


def _check_num_trials(num_trials: int):
  if num_trials < 1:
    raise ValueError(f"num_trials must be >= 1, got {num_trials}")


def reflect_unit_interval(x: chex.Array) -> chex.Array:
  """Folds the real line onto [0, 1] by mirror reflection at 0 and 1."""
  x = jnp.mod(x, 2.0)
  return jnp.where(x > 1.0, 2.0 - x, x)


# ---------------------------------------------------------------------------
# Bandits.
# ---------------------------------------------------------------------------


@struct.dataclass
class BanditState:
  arm_probabilities: chex.Array  # float32 (2,), in force for trial `trial`
  trial: chex.Array  # int32, trials completed so far


class _BanditMixin:
  """Observation, specs and analysis helpers shared by the two bandits."""

  def observation_spec(self):
    return specs.BoundedArray(
        (1,), jnp.float32, minimum=0.0, maximum=1.0, name="observation"
    )

  def action_spec(self):
    return specs.DiscreteArray(2, dtype=jnp.int32, name="action")

  def _observation(self, trial):
    return _bandit_observation(trial, self.num_trials, self.observe_trial_index)

  def arm_probabilities(self, state) -> chex.Array:
    """(p_0, p_1) in force for the trial taken from `state`."""
    return _inner(state).arm_probabilities

  def trial_index(self, state) -> chex.Array:
    """Index of the trial that the action taken from `state` plays."""
    return _inner(state).trial

  def expected_regret(self, state, action) -> chex.Array:
    """max_a p_a - p_action for the trial played from `state` (0 if none)."""
    p = self.arm_probabilities(state)
    regret = jnp.max(p) - p[jnp.asarray(action, jnp.int32)]
    return jnp.where(_is_trial_state(state), regret, 0.0)

  def _pull(self, p, action, key):
    reward = jax.random.bernoulli(key, p[jnp.asarray(action, jnp.int32)])
    return reward.astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class TwoArmedBandit(_BanditMixin, base.Environment):
  """Stationary two-armed Bernoulli bandit, one bandit per episode."""

  num_trials: int = 100
  arm_distribution: str = "independent"
  observe_trial_index: bool = True

  def __post_init__(self):
    _check_num_trials(self.num_trials)
    if self.arm_distribution not in ARM_DISTRIBUTIONS:
      raise ValueError(
          f"arm_distribution must be one of {ARM_DISTRIBUTIONS},"
          f" got {self.arm_distribution!r}"
      )

  def _draw_arm_probabilities(self, key) -> chex.Array:
    if self.arm_distribution == "independent":
      return jax.random.uniform(key, (2,), jnp.float32)
    if self.arm_distribution == "dependent_uniform":
      p0 = jax.random.uniform(key, (), jnp.float32)
    else:
      low, high = _TWO_POINT_ARMS[self.arm_distribution]
      p0 = jnp.where(jax.random.bernoulli(key), low, high).astype(jnp.float32)
    return jnp.stack([p0, 1.0 - p0])

  def _reset(self, key):
    s = BanditState(
        arm_probabilities=self._draw_arm_probabilities(key),
        trial=jnp.zeros((), jnp.int32),
    )
    return s, self._observation(s.trial)

  def _step(self, s: BanditState, action, key):
    reward = self._pull(s.arm_probabilities, action, key)
    s = s.replace(trial=s.trial + 1)
    return s, self._observation(s.trial), reward, s.trial >= self.num_trials


@struct.dataclass
class RestlessBanditState:
  arm_probabilities: chex.Array  # float32 (2,), in force for trial `trial`
  trial: chex.Array  # int32, trials completed so far
  volatility: chex.Array  # float32, this episode's drift rate
  volatility_index: chex.Array  # int32, its index in `volatilities`


@dataclasses.dataclass(frozen=True)
class RestlessBandit(_BanditMixin, base.Environment):
  """Two-armed bandit whose probabilities drift at a per-episode volatility."""

  num_trials: int = 100
  volatilities: tuple[float, ...] = (0.01, 0.1)
  drift_process: str = "switch"
  switch_reward_probabilities: tuple[float, float] = (0.8, 0.2)
  dependent_arms: bool = True  # 'random_walk' only; 'switch' is always so.
  observe_trial_index: bool = True

  def __post_init__(self):
    _check_num_trials(self.num_trials)
    if self.drift_process not in DRIFT_PROCESSES:
      raise ValueError(
          f"drift_process must be one of {DRIFT_PROCESSES}, got "
          f"{self.drift_process!r}"
      )
    if not self.volatilities:
      raise ValueError("volatilities must not be empty")
    for v in self.volatilities:
      if self.drift_process == "switch":
        _check_probability("a switch hazard (volatility)", v)
      elif v < 0:
        raise ValueError(f"a random-walk volatility must be >= 0, got {v}")
    if len(self.switch_reward_probabilities) != 2:
      raise ValueError("switch_reward_probabilities must be (high, low)")
    for p in self.switch_reward_probabilities:
      _check_probability("switch_reward_probabilities", p)

  def volatility(self, state) -> chex.Array:
    """This episode's volatility (hazard for 'switch', step std for walks)."""
    return _inner(state).volatility

  def volatility_index(self, state) -> chex.Array:
    """Index of this episode's volatility in `volatilities`."""
    return _inner(state).volatility_index

  def _reset(self, key):
    volatility_key, arm_key = jax.random.split(key)
    index = jax.random.randint(volatility_key, (), 0, len(self.volatilities))
    volatility = jnp.asarray(self.volatilities, jnp.float32)[index]
    if self.drift_process == "switch":
      high, low = self.switch_reward_probabilities
      arm_0_high = jax.random.bernoulli(arm_key)
      p = jnp.where(
          arm_0_high,
          jnp.array([high, low], jnp.float32),
          jnp.array([low, high], jnp.float32),
      )
    elif self.dependent_arms:
      p0 = jax.random.uniform(arm_key, (), jnp.float32)
      p = jnp.stack([p0, 1.0 - p0])
    else:
      p = jax.random.uniform(arm_key, (2,), jnp.float32)
    s = RestlessBanditState(
        arm_probabilities=p,
        trial=jnp.zeros((), jnp.int32),
        volatility=volatility,
        volatility_index=index.astype(jnp.int32),
    )
    return s, self._observation(s.trial)

  def _drift(self, p, volatility, key):
    if self.drift_process == "switch":
      swap = jax.random.bernoulli(key, volatility)
      return jnp.where(swap, p[::-1], p)
    noise = volatility * jax.random.normal(key, (2,), jnp.float32)
    if self.dependent_arms:
      p0 = reflect_unit_interval(p[0] + noise[0])
      return jnp.stack([p0, 1.0 - p0])
    return reflect_unit_interval(p + noise)

  def _step(self, s: RestlessBanditState, action, key):
    reward_key, drift_key = jax.random.split(key)
    reward = self._pull(s.arm_probabilities, action, reward_key)
    s = s.replace(
        arm_probabilities=self._drift(
            s.arm_probabilities, s.volatility, drift_key
        ),
        trial=s.trial + 1,
    )
    return s, self._observation(s.trial), reward, s.trial >= self.num_trials


# ---------------------------------------------------------------------------
# Harlow.
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def harlow_object_pool(
    num_objects: int, object_dim: int, object_seed: int
) -> np.ndarray:
  """The (num_objects, object_dim) float32 U[0, 1) features (read-only)."""
  rng = np.random.default_rng(object_seed)
  pool = rng.random((num_objects, object_dim), dtype=np.float32)
  pool.setflags(write=False)
  return pool


@struct.dataclass
class HarlowState:
  objects: chex.Array  # int32 (2,), pool indices of this episode's objects
  rewarded_slot: chex.Array  # int32, which of `objects` is rewarded
  left_slot: chex.Array  # int32, which of `objects` is shown on the left
  trial: chex.Array  # int32, trials completed so far
  choice_phase: chex.Array  # bool, the next action is a choice (not fixation)


@dataclasses.dataclass(frozen=True)
class Harlow(base.Environment):
  """Harlow's learning-to-learn task with random feature-vector objects."""

  num_trials: int = 6
  num_objects: int = 1000
  num_train_objects: int = 800
  object_dim: int = 16
  object_seed: int = 0
  split: str = "train"

  def __post_init__(self):
    _check_num_trials(self.num_trials)
    if self.split not in HARLOW_SPLITS:
      raise ValueError(
          f"split must be one of {HARLOW_SPLITS}, got " f"{self.split!r}"
      )
    if not 2 <= self.num_train_objects <= self.num_objects - 2:
      raise ValueError(
          "each split needs at least two objects: need 2 <= "
          f"num_train_objects ({self.num_train_objects}) <= "
          f"num_objects - 2 ({self.num_objects - 2})"
      )
    if self.object_dim < 1:
      raise ValueError(f"object_dim must be >= 1, got {self.object_dim}")

  # ---- static facts ---------------------------------------------------------
  def object_pool(self) -> np.ndarray:
    """All objects' features, (num_objects, object_dim), both splits."""
    return harlow_object_pool(
        self.num_objects, self.object_dim, self.object_seed
    )

  def object_index_range(self) -> tuple[int, int]:
    """[start, stop) of the pool indices this split draws from."""
    if self.split == "train":
      return 0, self.num_train_objects
    return self.num_train_objects, self.num_objects

  # ---- analysis helpers -----------------------------------------------------
  def trial_index(self, state) -> chex.Array:
    """Index of the trial that the action taken from `state` belongs to."""
    return _inner(state).trial

  def is_choice_step(self, state) -> chex.Array:
    """Whether the action taken from `state` chooses an object."""
    return jnp.logical_and(_inner(state).choice_phase, _is_trial_state(state))

  def correct_action(self, state) -> chex.Array:
    """The action choosing the rewarded object (0 left, 1 right)."""
    s = _inner(state)
    return jnp.where(s.left_slot == s.rewarded_slot, 0, 1).astype(jnp.int32)

  def episode_objects(self, state) -> chex.Array:
    """Pool indices (2,) of the episode's two objects."""
    return _inner(state).objects

  def rewarded_object(self, state) -> chex.Array:
    """Pool index of the episode's rewarded object."""
    s = _inner(state)
    return s.objects[s.rewarded_slot]

  # ---- the task -------------------------------------------------------------
  def _observation(self, s: HarlowState) -> chex.Array:
    pool = jnp.asarray(self.object_pool())
    left = pool[s.objects[s.left_slot]]
    right = pool[s.objects[1 - s.left_slot]]
    shown = s.choice_phase.astype(jnp.float32)
    return jnp.concatenate([left * shown, right * shown, (1.0 - shown)[None]])

  def _reset(self, key):
    first_key, second_key, rewarded_key = jax.random.split(key, 3)
    start, stop = self.object_index_range()
    size = stop - start
    first = jax.random.randint(first_key, (), 0, size)
    second = jax.random.randint(second_key, (), 0, size - 1)
    second = second + (second >= first)  # distinct from `first`, uniform.
    s = HarlowState(
        objects=(start + jnp.stack([first, second])).astype(jnp.int32),
        rewarded_slot=jax.random.randint(rewarded_key, (), 0, 2),
        left_slot=jnp.zeros((), jnp.int32),
        trial=jnp.zeros((), jnp.int32),
        choice_phase=jnp.zeros((), bool),
    )
    return s, self._observation(s)

  def _step(self, s: HarlowState, action, key):
    action = jnp.asarray(action, jnp.int32)
    choosing = s.choice_phase
    # Fixation step: draw the sides of the coming choice.
    new_left_slot = jax.random.randint(key, (), 0, 2)
    # Choice step: score the chosen object.
    chosen_slot = jnp.where(action == 0, s.left_slot, 1 - s.left_slot)
    choice_reward = jnp.where(chosen_slot == s.rewarded_slot, 1.0, -1.0)
    trial = jnp.where(choosing, s.trial + 1, s.trial)
    s = s.replace(
        left_slot=jnp.where(choosing, s.left_slot, new_left_slot),
        trial=trial,
        choice_phase=jnp.logical_not(choosing),
    )
    reward = jnp.where(choosing, choice_reward, 0.0)
    terminated = jnp.logical_and(choosing, trial >= self.num_trials)
    return s, self._observation(s), reward, terminated

  def observation_spec(self):
    return specs.BoundedArray(
        (2 * self.object_dim + 1,),
        jnp.float32,
        minimum=0.0,
        maximum=1.0,
        name="observation",
    )

  def action_spec(self):
    return specs.DiscreteArray(2, dtype=jnp.int32, name="action")


# ---------------------------------------------------------------------------
# Two-step task.
# ---------------------------------------------------------------------------

STAGE_1, STATE_A, STATE_B = 0, 1, 2  # observation one-hot positions


@struct.dataclass
class TwoStepTrial:
  """One completed trial (fields may be batched)."""

  stage1_action: chex.Array  # int32, a1
  common: chex.Array  # bool, the transition was the common one
  rewarded: chex.Array  # bool, the stage-2 outcome was a reward


@struct.dataclass
class TwoStepState:
  trial: chex.Array  # int32, trials completed so far
  stage: chex.Array  # int32, 0 before the stage-1 action, 1 before stage 2
  stage2_state: chex.Array  # int32, 0 = A, 1 = B (meaningful in stage 2)
  stage1_action: chex.Array  # int32, this trial's a1 (meaningful in stage 2)
  common: chex.Array  # bool, this trial's transition (meaningful in stage 2)
  better_state: chex.Array  # int32, 0 = A or 1 = B rewards with p_high now
  previous: TwoStepTrial  # the last completed trial (zeros before trial 1)


@dataclasses.dataclass(frozen=True)
class TwoStep(base.Environment):
  """Daw et al.'s two-step task with drifting (swapping) reward states."""

  num_trials: int = 100
  common_probability: float = 0.8
  reward_probabilities: tuple[float, float] = (0.9, 0.1)  # (better, worse)
  swap_probability: float = 0.025

  def __post_init__(self):
    _check_num_trials(self.num_trials)
    _check_probability("common_probability", self.common_probability)
    _check_probability("swap_probability", self.swap_probability)
    if len(self.reward_probabilities) != 2:
      raise ValueError("reward_probabilities must be (better, worse)")
    for p in self.reward_probabilities:
      _check_probability("reward_probabilities", p)

  # ---- analysis helpers -----------------------------------------------------
  def trial_index(self, state) -> chex.Array:
    """Index of the trial that the action taken from `state` belongs to."""
    return _inner(state).trial

  def is_stage1_step(self, state) -> chex.Array:
    """Whether the action taken from `state` is a stage-1 choice."""
    s = _inner(state)
    return jnp.logical_and(s.stage == 0, _is_trial_state(state))

  def previous_trial(self, state) -> TwoStepTrial:
    """The last completed trial (valid where `has_previous_trial`)."""
    return _inner(state).previous

  def has_previous_trial(self, state) -> chex.Array:
    """A stage-1 step with a completed trial before it in this episode.

    At such a state, the action taken is a "stay" iff it equals
    `previous_trial(state).stage1_action`.
    """
    return jnp.logical_and(self.is_stage1_step(state), _inner(state).trial >= 1)

  def state_reward_probabilities(self, state) -> chex.Array:
    """(p_A, p_B) in force for the current trial."""
    better, worse = self.reward_probabilities
    better_is_a = _inner(state).better_state == 0
    return jnp.where(
        better_is_a,
        jnp.array([better, worse], jnp.float32),
        jnp.array([worse, better], jnp.float32),
    )

  def better_state(self, state) -> chex.Array:
    """0 if A, 1 if B is the better stage-2 state for the current trial."""
    return _inner(state).better_state

  # ---- the task -------------------------------------------------------------
  @staticmethod
  def _observation(s: TwoStepState) -> chex.Array:
    position = jnp.where(s.stage == 0, STAGE_1, STATE_A + s.stage2_state)
    return jax.nn.one_hot(position, 3, dtype=jnp.float32)

  def _reset(self, key):
    zero = jnp.zeros((), jnp.int32)
    false = jnp.zeros((), bool)
    s = TwoStepState(
        trial=zero,
        stage=zero,
        stage2_state=zero,
        stage1_action=zero,
        common=false,
        better_state=jax.random.randint(key, (), 0, 2),
        previous=TwoStepTrial(stage1_action=zero, common=false, rewarded=false),
    )
    return s, self._observation(s)

  def _step(self, s: TwoStepState, action, key):
    transition_key, reward_key, swap_key = jax.random.split(key, 3)
    action = jnp.asarray(action, jnp.int32)
    in_stage1 = s.stage == 0
    # Stage 1: a1 = 0 -> A and a1 = 1 -> B on a common transition.
    common = jax.random.bernoulli(transition_key, self.common_probability)
    stage2_state = jnp.where(common, action, 1 - action)
    # Stage 2: the outcome, then the per-trial swap of the better state.
    better, worse = self.reward_probabilities
    p_reward = jnp.where(s.stage2_state == s.better_state, better, worse)
    rewarded = jax.random.bernoulli(reward_key, p_reward)
    swap = jax.random.bernoulli(swap_key, self.swap_probability)
    completed = TwoStepTrial(
        stage1_action=s.stage1_action, common=s.common, rewarded=rewarded
    )
    after_stage1 = s.replace(
        stage=jnp.ones((), jnp.int32),
        stage2_state=stage2_state.astype(jnp.int32),
        stage1_action=action,
        common=common,
    )
    after_stage2 = s.replace(
        trial=s.trial + 1,
        stage=jnp.zeros((), jnp.int32),
        better_state=jnp.where(swap, 1 - s.better_state, s.better_state),
        previous=completed,
    )
    s = jax.tree.map(
        lambda a, b: jnp.where(in_stage1, a, b), after_stage1, after_stage2
    )
    reward = jnp.where(in_stage1, 0.0, rewarded.astype(jnp.float32))
    terminated = jnp.logical_and(
        jnp.logical_not(in_stage1), s.trial >= self.num_trials
    )
    return s, self._observation(s), reward, terminated

  def observation_spec(self):
    return specs.BoundedArray(
        (3,), jnp.float32, minimum=0.0, maximum=1.0, name="observation"
    )

  def action_spec(self):
    return specs.DiscreteArray(2, dtype=jnp.int32, name="action")


def trials_from_episode(
    observations: chex.Array, actions: chex.Array, rewards: chex.Array
) -> TwoStepTrial:
  """Rebuilds the trials of one TwoStep episode from a time-major log.

  Args:
    observations: (2 * num_trials, 3): observations[t] is what the agent saw
      when it took actions[t]; t = 0 is the episode's FIRST observation.
    actions: (2 * num_trials,) the actions.
    rewards: (2 * num_trials,) rewards[t] is the reward that FOLLOWED
      actions[t] (the reward of timestep t + 1).

  Returns:
    TwoStepTrial with fields of shape (num_trials,). Vmap over episodes.
  """
  chex.assert_rank([observations, actions, rewards], [2, 1, 1])
  stage1_action = jnp.asarray(actions[0::2], jnp.int32)
  stage2_state = jnp.argmax(observations[1::2, STATE_A:], axis=-1)
  return TwoStepTrial(
      stage1_action=stage1_action,
      common=stage2_state == stage1_action,
      rewarded=rewards[1::2] > 0,
  )
