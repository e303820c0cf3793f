"""Population distributional TD: the dopamine model of Dabney et al. (2020).

W. Dabney, Z. Kurth-Nelson, N. Uchida, C. K. Starkweather, D. Hassabis,
R. Munos, M. Botvinick, "A distributional code for value in dopamine-based
reinforcement learning", Nature 577, 671-675 (2020).

A population of N value predictors ("units", one per dopamine neuron) learns a
table of values V_i(s) over the states of a Pavlovian task (the one-hot
observations of `environments/dopamine_tasks.py`) by TD(0) over the time steps
of each trial, every unit with its own step sizes for positive and negative
prediction errors. The equations and the lines that compute them:

  delta_i = r + gamma * discount * V_i(s') - V_i(s)            `td_error`
  expectile code:  V_i(s) += alpha_i^+ delta_i   if delta_i > 0
                   V_i(s) += alpha_i^- delta_i   otherwise      `value_increment`
     -> V_i(s) converges to the tau_i-expectile of the target,
        tau_i = alpha_i^+ / (alpha_i^+ + alpha_i^-)             `Population.taus`
  quantile code:   V_i(s) += alpha_i^+ if delta_i > 0, -alpha_i^- if delta_i < 0
     -> the tau_i-quantile                                      `value_increment`
  classical TD:    alpha_i^+ = alpha_i^- = alpha for every unit (expectile rule,
     tau = 1/2) -> every unit learns the mean; optional per-unit noise in the
     step size or a fixed per-unit offset of the value readout   `make_population`

In a multi-step trial the value of the reward state converges to the tau_i-
expectile e_i of the reward distribution and moves back along the delay line
to the cue: V_i(cue) -> gamma^k e_i, k = steps from cue to reward state. Each
unit bootstraps from its own next-state value, as in the paper's model; where
the next state's value is itself random (the pre-cue state of the variable-
probability task, whose successor is one of several cues) the fixed point is
then the tau-expectile of the next-state *values*, not of the return. With a
constant step size V_i(reward state) keeps fluctuating (s.d. ~ sqrt(alpha) x
reward s.d.), and upstream expectile units spread that noise too: V_i(cue) is
slightly more extreme than gamma^k e_i, by O(sqrt(alpha)) (tests use alpha <=
0.003 for the chain).

Simulated dopamine responses. A neuron's response is its asymmetrically scaled
prediction error, alpha_i^+ delta_i or alpha_i^- delta_i (this scaling is what
the paper measures as the asymmetry beta+/(beta+ + beta-), and what makes the
units learn different expectiles). `reward_prediction_errors` gives delta_i(r)
= r - V_i(reward state) for each reward size (the "reversal point" of a unit,
where delta_i = 0, is its learned value: `reversal_points`),
`cue_prediction_errors` gives gamma V_i(cue) - V_i(pre-cue), and
`trial_responses` turns either into (units, conditions, trials) arrays shaped
like the recordings (`shared/data/dabney2020`), scaled by 2 alpha^+/(alpha^+ +
alpha^-) = 2 tau above zero and 2 (1 - tau) below (unit mean gain) and with
optional Gaussian response noise, so `agents/analysis/dopamine/` applies to
them unchanged.

How trials are simulated. A trial is a padded chunk of transitions (`Trials`:
states, rewards, discounts, next states, mask; arrays (trials, steps)).
All states of a trial are distinct (time moves forward), so online TD(0) in
the order of the trial -- each update bootstraps from a next state not yet
updated in this trial -- equals one parallel update of all the trial's states
from the values before the trial: `simulate` scans (`lax.scan`) over trials
and applies it to the (N, num_states) table, units `vmap`ped. Trials come from

  * `trials_from_task`: the task's parameters (cue, then reward, drawn directly;
    Pavlovian tasks only), or
  * `trials_from_env`: the functional environment itself, driven with
    `env.reset`/`env.step` (the dummy action, or a `policy`), trials vmapped in
    blocks -- works for any task whose observation is a one-hot state.

The two agree in distribution (tested). For one-step trials (reward only) the
fast path `simulate_rewards` scans a (N,) value vector over a pre-sampled
reward sequence (`sample_rewards`), several times faster than the generic
`simulate` (`python -m scripts.benchmark --only=population_td` times it).

Everything is a pure, jit-compiled function of explicit arrays and keys.
"""

from __future__ import annotations

import functools
from typing import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from agents.lib import distributional

KINDS = ("expectile", "quantile", "classical")
RULES = ("expectile", "quantile")


@struct.dataclass
class Population:
  """N units: their step sizes, value readout offsets and update rule."""

  alpha_plus: chex.Array  # (N,) step size for positive prediction errors.
  alpha_minus: chex.Array  # (N,) step size for negative prediction errors.
  value_offset: chex.Array  # (N,) fixed offset of each unit's value readout.
  rule: str = struct.field(pytree_node=False, default="expectile")

  @property
  def num_units(self) -> int:
    return self.alpha_plus.shape[0]

  @property
  def taus(self) -> chex.Array:
    """tau_i = alpha_i^+ / (alpha_i^+ + alpha_i^-)."""
    return self.alpha_plus / (self.alpha_plus + self.alpha_minus)


@struct.dataclass
class Trials:
  """Transitions of T trials padded to L steps; every array is (T, L)."""

  states: chex.Array  # int32, s_t (a one-hot observation's index).
  rewards: chex.Array  # float32, r_{t+1}.
  discounts: chex.Array  # float32, 0 on termination.
  next_states: chex.Array  # int32, s_{t+1}.
  mask: chex.Array  # float32, 1 for a real transition, 0 for padding.


def make_population(
    num_units: int,
    kind: str,
    key: chex.PRNGKey | None = None,
    *,
    step_size: float = 0.01,
    taus: chex.ArrayLike | None = None,
    step_size_noise: float = 0.0,
    value_noise: float = 0.0,
) -> Population:
  """A population of `num_units` units.

  Args:
    num_units: N.
    kind: "expectile" or "quantile" (asymmetric units with the matching update
      rule), or "classical" (alpha^+ = alpha^-, expectile rule: every unit
      learns the mean).
    key: needed only for the classical control's noise.
    step_size: mean of alpha^+ and alpha^-: alpha^+ = 2 step_size tau,
      alpha^- = 2 step_size (1 - tau) (so tau = 1/2 has both = step_size).
    taus: (N,) asymmetries in (0, 1); default evenly spread, (i + 1/2) / N.
    step_size_noise: classical only: each unit's shared step size is
      step_size * exp(step_size_noise * normal) (alpha^+ = alpha^- still).
    value_noise: classical only: each unit's value readout is offset by a
      fixed normal(0, value_noise) draw (not learned; see `reversal_points`).

  The two classical controls differ: step-size noise leaves every unit at the
  mean (reversal points differ only by learning noise, ~sqrt(alpha), and are
  not reliable across split halves); a fixed value offset makes reversal
  points diverse *and* split-half reliable, but still uncorrelated with the
  (symmetric) asymmetry -- what the paper's test separates from
  distributional TD.
  """
  if kind not in KINDS:
    raise ValueError(
        f"unknown population kind {kind!r}; expected one of {KINDS}"
    )
  if kind == "classical":
    if taus is not None:
      raise ValueError("a classical population has tau = 1/2; do not pass taus")
    if (step_size_noise or value_noise) and key is None:
      raise ValueError("classical noise needs a key")
    alpha = jnp.full((num_units,), step_size, jnp.float32)
    offset = jnp.zeros((num_units,), jnp.float32)
    if key is not None:
      step_key, value_key = jax.random.split(key)
      alpha = alpha * jnp.exp(
          step_size_noise * jax.random.normal(step_key, (num_units,))
      )
      offset = value_noise * jax.random.normal(value_key, (num_units,))
    return Population(
        alpha_plus=alpha,
        alpha_minus=alpha,
        value_offset=offset.astype(jnp.float32),
        rule="expectile",
    )
  if step_size_noise or value_noise:
    raise ValueError("step_size_noise and value_noise are for kind='classical'")
  if taus is None:
    taus = distributional.midpoint_taus(num_units)
  taus = jnp.asarray(taus, jnp.float32)
  chex.assert_shape(taus, (num_units,))
  return Population(
      alpha_plus=2.0 * step_size * taus,
      alpha_minus=2.0 * step_size * (1.0 - taus),
      value_offset=jnp.zeros((num_units,), jnp.float32),
      rule=kind,
  )


# ---- the update, for one unit and one transition (rlax style) ---------------
def td_error(
    v_tm1: chex.Array, r_t: chex.Array, discount_t: chex.Array, v_t: chex.Array
) -> chex.Array:
  """delta = r_t + discount_t * v_t - v_tm1 (discount_t includes gamma)."""
  return r_t + discount_t * v_t - v_tm1


def value_increment(
    delta: chex.Array,
    alpha_plus: chex.Array,
    alpha_minus: chex.Array,
    rule: str,
) -> chex.Array:
  """The change of V(s): expectile (delta-scaled) or quantile (sign) rule."""
  if rule == "expectile":
    return jnp.where(delta > 0, alpha_plus * delta, alpha_minus * delta)
  if rule == "quantile":
    return jnp.where(
        delta > 0, alpha_plus, jnp.where(delta < 0, -alpha_minus, 0.0)
    )
  raise ValueError(f"unknown update rule {rule!r}; expected one of {RULES}")


def _trial_update(
    values: chex.Array,
    alpha_plus: chex.Array,
    alpha_minus: chex.Array,
    trial: Trials,
    gamma: float,
    rule: str,
) -> chex.Array:
  """One unit's (num_states,) table after one trial ((L,) arrays in `trial`)."""
  delta = td_error(
      values[trial.states],
      trial.rewards,
      gamma * trial.discounts,
      values[trial.next_states],
  )
  increment = value_increment(delta, alpha_plus, alpha_minus, rule)
  return values.at[trial.states].add(trial.mask * increment)


# ---- simulation -------------------------------------------------------------
@functools.partial(jax.jit, static_argnames=("num_states", "history_every"))
def simulate(
    population: Population,
    trials: Trials,
    num_states: int,
    *,
    gamma: float = 1.0,
    initial_values: chex.Array | None = None,
    history_every: int = 0,
):
  """Runs the population through `trials` in order.

  Args:
    population: the units.
    trials: (T, L) transitions (see `Trials`); states index a table of
      `num_states` states and are distinct within a trial.
    num_states: size of the value table.
    gamma: the discount factor (multiplies each transition's discount).
    initial_values: (N, num_states); default zeros.
    history_every: if > 0, also return the table after every
      `history_every` trials, (T // history_every, N, num_states) (T must be a
      multiple).

  Returns:
    values (N, num_states), or (values, history) if history_every > 0.
  """
  n = population.num_units
  if initial_values is None:
    initial_values = jnp.zeros((n, num_states), jnp.float32)
  update_units = jax.vmap(_trial_update, in_axes=(0, 0, 0, None, None, None))

  def one_trial(values, trial):
    return (
        update_units(
            values,
            population.alpha_plus,
            population.alpha_minus,
            trial,
            gamma,
            population.rule,
        ),
        None,
    )

  if history_every <= 0:
    values, _ = jax.lax.scan(one_trial, initial_values, trials)
    return values
  num_trials = trials.states.shape[0]
  if num_trials % history_every:
    raise ValueError(
        f"history_every ({history_every}) must divide the number "
        f"of trials ({num_trials})"
    )
  chunks = jax.tree.map(
      lambda x: x.reshape(
          (num_trials // history_every, history_every) + x.shape[1:]
      ),
      trials,
  )

  def one_chunk(values, chunk):
    values, _ = jax.lax.scan(one_trial, values, chunk)
    return values, values

  return jax.lax.scan(one_chunk, initial_values, chunks)


@functools.partial(jax.jit, static_argnames=("unroll",))
def simulate_rewards(
    population: Population,
    rewards: chex.Array,
    *,
    initial_values: chex.Array | None = None,
    unroll: int = 1,
) -> chex.Array:
  """Fast path for one-step trials: V_i += increment(r_k - V_i) over rewards.

  Args:
    population: the units.
    rewards: (T,) the reward of each trial, in order.
    initial_values: (N,); default zeros.
    unroll: `lax.scan` unrolling (speed only).

  Returns:
    (N,) each unit's value of the (single) reward state.
  """
  if initial_values is None:
    initial_values = jnp.zeros((population.num_units,), jnp.float32)
  update = jax.vmap(
      lambda v, r, a_plus, a_minus: v
      + value_increment(
          td_error(v, r, 0.0, 0.0), a_plus, a_minus, population.rule
      ),
      in_axes=(0, None, 0, 0),
  )

  def one_trial(values, reward):
    return (
        update(values, reward, population.alpha_plus, population.alpha_minus),
        None,
    )

  values, _ = jax.lax.scan(
      one_trial,
      initial_values,
      jnp.asarray(rewards, jnp.float32),
      unroll=unroll,
  )
  return values


# ---- trials -----------------------------------------------------------------
def _categorical(
    key: chex.PRNGKey, probs: chex.Array, shape: tuple[int, ...]
) -> chex.Array:
  """Indices drawn by inverse CDF from normalised probs (..., K) (cheaper on
  CPU than `jax.random.categorical`'s K Gumbel draws per sample)."""
  cdf = jnp.cumsum(probs, axis=-1)[..., :-1]
  u = jax.random.uniform(key, shape)
  return jnp.sum(u[..., None] >= cdf, axis=-1)


def _normalised(probs) -> np.ndarray:
  probs = np.asarray(probs, np.float64)
  return probs / probs.sum(axis=-1, keepdims=True)


def sample_rewards(
    reward_sizes, reward_probs, num_trials: int, key: chex.PRNGKey
) -> chex.Array:
  """(num_trials,) rewards drawn i.i.d. from sizes with (normalised) probs."""
  probs = jnp.asarray(_normalised(reward_probs), jnp.float32)
  index = _categorical(key, probs, (num_trials,))
  return jnp.asarray(reward_sizes, jnp.float32)[index]


@functools.partial(jax.jit, static_argnums=(0, 1))
def trials_from_task(task, num_trials: int, key: chex.PRNGKey) -> Trials:
  """Samples Pavlovian trials from a task's parameters (no environment steps).

  `task` is an `environments.dopamine_tasks.PavlovianTask`: each trial's cue
  (line) is drawn from `task.line_probabilities()`, its reward from the line's
  row of `task.outcome_probabilities()`, and its states are
  `task.trial_states()[line]`, ending in `task.end_state` with discount 0.
  """
  line_key, reward_key = jax.random.split(key)
  states_per_line = jnp.asarray(task.trial_states())  # (C, L)
  steps = states_per_line.shape[1]
  line_probs = jnp.asarray(_normalised(task.line_probabilities()), jnp.float32)
  lines = _categorical(line_key, line_probs, (num_trials,))
  outcome_probs = jnp.asarray(
      _normalised(task.outcome_probabilities()), jnp.float32
  )[lines]
  outcome = _categorical(reward_key, outcome_probs, (num_trials,))
  reward = jnp.asarray(task.outcomes(), jnp.float32)[outcome]
  states = states_per_line[lines]
  last = jnp.arange(steps) == steps - 1
  next_states = jnp.concatenate(
      [states[:, 1:], jnp.full((num_trials, 1), task.end_state, jnp.int32)],
      axis=1,
  )
  return Trials(
      states=states.astype(jnp.int32),
      rewards=jnp.where(last, reward[:, None], 0.0).astype(jnp.float32),
      discounts=jnp.broadcast_to(
          jnp.where(last, 0.0, 1.0), (num_trials, steps)
      ).astype(jnp.float32),
      next_states=next_states.astype(jnp.int32),
      mask=jnp.ones((num_trials, steps), jnp.float32),
  )


def trials_from_env(
    env,
    num_trials: int,
    key: chex.PRNGKey,
    *,
    max_steps: int | None = None,
    policy: Callable[[chex.Array], chex.Array] | None = None,
    block_size: int = 4096,
) -> Trials:
  """Samples trials (episodes) by stepping a functional environment.

  Each trial is `env.reset` then `max_steps` calls of `env.step` (action 0, or
  `policy(observation)`); transitions after the LAST step (the auto-reset) are
  masked out. Trials are vmapped in blocks of `block_size` (`lax.map`).

  Args:
    env: a `base.Environment` whose observation is one-hot over states.
    num_trials: T.
    key: randomness; trial k uses its own split of it.
    max_steps: steps per trial (L); default `env.max_trial_steps`.
    policy: observation -> action (traceable); default the dummy action 0.
    block_size: trials vmapped at once.
  """
  if max_steps is None:
    max_steps = env.max_trial_steps
  trials, complete = _trials_from_env(
      env, num_trials, key, max_steps, policy, block_size
  )
  if not isinstance(complete, jax.core.Tracer) and not bool(jnp.all(complete)):
    raise ValueError(
        f"some episodes of {env.name} did not end within "
        f"max_steps={max_steps}"
    )
  return trials


@functools.partial(jax.jit, static_argnums=(0, 1, 3, 4, 5))
def _trials_from_env(env, num_trials, key, max_steps, policy, block_size):

  def one_trial(trial_key):
    state, timestep = env.reset(trial_key)

    def one_step(carry, _):
      state, timestep, done = carry
      action = (
          jnp.zeros((), jnp.int32)
          if policy is None
          else policy(timestep.observation)
      )
      state, next_timestep = env.step(state, action)
      transition = (
          jnp.argmax(timestep.observation),
          next_timestep.reward,
          next_timestep.discount,
          jnp.argmax(next_timestep.observation),
          jnp.logical_not(done),
      )
      done = done | next_timestep.last()
      return (state, next_timestep, done), transition

    (_, _, done), transition = jax.lax.scan(
        one_step, (state, timestep, jnp.zeros((), bool)), None, length=max_steps
    )
    return transition, done

  keys = jax.random.split(key, num_trials)
  (states, rewards, discounts, next_states, valid), done = jax.lax.map(
      one_trial, keys, batch_size=min(block_size, num_trials)
  )
  mask = valid.astype(jnp.float32)
  return (
      Trials(
          states=states.astype(jnp.int32),
          rewards=rewards * mask,
          discounts=discounts,
          next_states=next_states.astype(jnp.int32),
          mask=mask,
      ),
      done,
  )


def simulate_task(
    task,
    population: Population,
    num_trials: int,
    key: chex.PRNGKey,
    *,
    gamma: float = 1.0,
    source: str = "task",
    **kwargs,
) -> chex.Array:
  """Samples `num_trials` trials of `task` and simulates; returns (N, S).

  source: "task" (`trials_from_task`) or "env" (`trials_from_env`; kwargs such
  as `policy` go to it).
  """
  if source == "task":
    trials = trials_from_task(task, num_trials, key, **kwargs)
  elif source == "env":
    trials = trials_from_env(task, num_trials, key, **kwargs)
  else:
    raise ValueError(f"unknown trial source {source!r}; expected task or env")
  return simulate(population, trials, task.num_states, gamma=gamma)


# ---- readouts for the analysis -----------------------------------------------
def reversal_points(
    population: Population, values: chex.Array, state: int | None = None
) -> chex.Array:
  """(N,) each unit's value of `state` plus its readout offset: the reward at
  which its prediction error at that state is zero. `values` is (N, S), or (N,)
  from `simulate_rewards` (then leave `state` None)."""
  value = values if state is None else values[:, state]
  return value + population.value_offset


def reward_prediction_errors(
    population: Population,
    values: chex.Array,
    rewards: chex.ArrayLike,
    reward_state: int | None = None,
) -> chex.Array:
  """(N, K): delta_i(r_k) = r_k - V_i(reward state) (minus the readout offset)."""
  rewards = jnp.asarray(rewards, jnp.float32)
  reversal = reversal_points(population, values, reward_state)
  return rewards[None, :] - reversal[:, None]


def cue_prediction_errors(
    values: chex.Array,
    cue_states,
    *,
    baseline_state: int | None = None,
    gamma: float = 1.0,
) -> chex.Array:
  """(N, C): the RPE at cue onset, gamma V_i(cue) - V_i(pre-cue state).

  With `baseline_state` None the cue follows the inter-trial interval, whose
  value is 0.
  """
  cue_values = values[:, jnp.asarray(cue_states)]
  baseline = 0.0 if baseline_state is None else values[:, baseline_state, None]
  return gamma * cue_values - baseline


def trial_responses(
    population: Population,
    prediction_errors: chex.Array,
    num_trials: int,
    key: chex.PRNGKey | None = None,
    *,
    response_noise: float = 0.0,
    asymmetric_scaling: bool = True,
) -> chex.Array:
  """(N, K, num_trials) simulated responses to K conditions.

  response = g_i(delta) delta + noise, with g_i = 2 tau_i above zero and
  2 (1 - tau_i) below (alpha^+ and alpha^- over their mean) if
  `asymmetric_scaling`, else 1; noise ~ normal(0, response_noise) per trial.
  """
  delta = jnp.asarray(prediction_errors, jnp.float32)
  if asymmetric_scaling:
    taus = population.taus[:, None]
    delta = jnp.where(delta > 0, 2.0 * taus * delta, 2.0 * (1.0 - taus) * delta)
  responses = jnp.broadcast_to(delta[..., None], delta.shape + (num_trials,))
  if response_noise:
    if key is None:
      raise ValueError("response noise needs a key")
    responses = responses + response_noise * jax.random.normal(
        key, responses.shape
    )
  return responses
