"""The off-policy value-based learner shared by DQN and its distributional kin.

Written once so that DQN, QR-DQN, IQN and ER-DQN differ only in what is truly
theirs, their network and their loss, and cannot drift apart in the rest
(Mnih et al. 2015, "Human-level control through deep RL", Algorithm 1):

* experience replay of any kind (`agents/replay`, `config.replay`): every
  chunk's transitions (s, a, r, gamma*discount, s') go into a buffer in the
  agent state; transitions whose action was taken at a LAST step (the task
  ignored it and started a new episode) are stored with `valid = 0` and weigh
  nothing in the loss;
* `num_updates` gradient steps per learn call on batches sampled from replay,
  once the buffer holds `min_replay_size` items; `gradient_steps` in the state
  counts them over the run;
* every item's loss is multiplied by its importance weight from the sample
  (ones for uniform replay; prioritized replay's (N P(i))^-beta / max w):
  L = sum_i w_i valid_i l_i / max(sum_i valid_i, 1);
* each gradient step's sampled items' priorities are handed back to the
  buffer (`update`; a no-op for uniform replay) at the end of the learn call,
  and once per learn call the buffer may learn (`train`: imagination's
  model);
* a target network theta^-: copied from theta every `target_update_period`
  gradient steps (DQN's hard update, the default), or, with
  `target_update_tau` = tau in (0, 1], moved towards theta after every
  gradient step, theta^- <- tau theta + (1 - tau) theta^- (Polyak averaging;
  the soft updates of Lillicrap et al. 2016 and Gu et al. 2016);
* acting (`Acting`): epsilon-greedy on Q(s, .), epsilon annealed linearly in
  environment steps (counted globally, over all devices), the default; or,
  for continuous actions (`continuous_acting`), a deterministic policy
  mu(s) plus Gaussian or Ornstein-Uhlenbeck noise (agents/lib/continuous.py),
  the OU state being the per-environment actor state, reset to 0 at the first
  step of every episode;
* with `anneal_learning_rate`, the learning rate decays linearly to 0 over
  the run's gradient steps (`make_from_config`).

An algorithm supplies
  network:        a flax module, `network.apply(params, obs[, key])`
  action_values:  (params, observation, key) -> Q(s, .) for one observation
  loss:           (params, target_params, batch, key)
                    -> (per-item loss [N], per-item priority [N], metrics)
                  The per-item loss must be per item (never a batch mean):
                  the learner weights each item. The priority is the item's
                  non-negative surprise, which prioritized replay turns into
                  (priority + eps)^alpha: |TD error| for DQN (Schaul et al.
                  2016's |delta|); the per-item distributional loss for the
                  distributional agents (`fixed_statistics_loss`, IQN), whose
                  target is a distribution, not one number. No gradient flows
                  through it.
and optionally
  acting:         how it acts (`Acting`; default epsilon-greedy on
                  `action_values`);
  objective:      the whole objective (params, target_params, sample, key)
                  -> (loss, (priorities, metrics)), when it is more than the
                  weighted per-item loss (DDPG adds its actor's term).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
import rlax
from flax import struct

from agents import replay as replay_lib
from agents import types
from agents.lib import continuous
from agents.lib import optimizers
from agents.lib import returns

# fold_in constants: key streams of the buffer's own randomness, derived
# without touching the streams the learner drew before replay had them.
_BUFFER_INIT_STREAM = 0x5EED
_BUFFER_TRAIN_STREAM = 0x7A1E


@struct.dataclass
class ValueBasedState:
  params: Any
  target_params: Any
  opt_state: Any
  replay: Any  # the buffer's state (agents/replay)
  env_steps: chex.Array  # int32, global environment steps seen by learn
  gradient_steps: chex.Array  # int32, gradient steps taken over the run


@struct.dataclass
class EpsilonGreedyParams:
  params: Any
  epsilon: chex.Array


def transitions_from_trajectory(
    trajectory: types.Trajectory, gamma: float
) -> dict[str, chex.Array]:
  """[T+1, B] chunk -> T*B flat transitions for replay."""
  ts = trajectory.timestep
  r_t, discount_t, _, valid = returns.chunk_transitions(ts, gamma)
  items = dict(
      observation=ts.observation[:-1],
      action=trajectory.action,
      reward=r_t,
      discount=discount_t,
      next_observation=ts.observation[1:],
      valid=valid.astype(jnp.float32),
  )
  return jax.tree.map(lambda x: jnp.reshape(x, (-1, *x.shape[2:])), items)


def weighted_loss(
    loss,
    params,
    target_params,
    sample: replay_lib.ReplaySample,
    key: chex.PRNGKey,
):
  """The learner's objective: sum_i w_i valid_i l_i / max(sum_i valid_i, 1).

  Returns (value, (priorities [N] with 0 for invalid items, metrics)), the
  form `jax.value_and_grad(..., has_aux=True)` takes.
  """
  per_item, priorities, metrics = loss(params, target_params, sample.items, key)
  chex.assert_equal_shape([per_item, priorities, sample.weights])
  valid = sample.items["valid"]
  weights = sample.weights * valid
  value = jnp.sum(weights * per_item) / jnp.maximum(jnp.sum(valid), 1.0)
  priorities = jax.lax.stop_gradient(priorities) * valid
  return value, (priorities, metrics)


def _gate(ready: chex.Array, new: Any, old: Any) -> Any:
  """`new` where `ready`, else `old`, leaf by leaf; a leaf that is the very
  same array in both (a buffer's storage that `update` passed through) is
  kept as it is, so no select over the whole buffer is ever built."""
  return jax.tree.map(
      lambda n, o: o if n is o else jnp.where(ready, n, o), new, old
  )


@jax.custom_batching.custom_vmap
def every_seed(pred: chex.Array) -> chex.Array:
  """`pred` (a scalar bool) held in every vmapped copy, as an unbatched bool.

  The loop vmaps independent seeds; under `vmap` a `lax.cond` on a batched
  predicate becomes a select that computes both branches and then selects
  over every leaf they return. The learner's branch predicates (is the
  buffer ready, is it a target-copy step) are the same for every seed, as
  all seeds add the same number of items and take the same number of
  gradient steps; `lax.cond(every_seed(pred), ...)` stays a real branch.
  Without `vmap` it is `pred` itself.
  """
  return pred


@every_seed.def_vmap
def _every_seed_batched(axis_size, in_batched, pred):
  del axis_size
  # Again through every_seed, so that an enclosing vmap unbatches it too.
  return every_seed(jnp.all(pred) if in_batched else pred), False


def replay_gradient_steps(
    buffer: replay_lib.ReplayBuffer,
    optimizer: optax.GradientTransformation,
    objective: Callable[..., Any],
    carry: tuple,
    *,
    ready: chex.Array,
    key: chex.PRNGKey,
    batch_size: int,
    num_updates: int,
    target_update_period: int,
    target_update_tau: float | None = None,
):
  """`num_updates` gradient steps on batches sampled from replay (lax.scan).

  Shared by every replay learner (the feed-forward one below, R2D2). Each
  step samples a batch, differentiates `objective(params, target_params,
  sample, key) -> (loss, (priorities, metrics))`, averages the gradient over
  `types.DEVICE_AXIS`, applies the optimizer and copies theta to theta^-
  every `target_update_period` steps, or, with `target_update_tau` (soft
  updates), sets theta^- <- tau theta + (1 - tau) theta^- after every step
  (`optax.incremental_update`). Until `ready` (the buffer holds
  `min_replay_size` items) nothing is updated and the loss is only
  measured: a real branch, not a select over every parameter (see
  `every_seed`).

  Priorities go back to the buffer after the scan, one `update` per gradient
  step in order (a later batch's priority for an item wins): written inside
  the scan, after the sample's reads of the same sum-tree, they made XLA copy
  the whole tree at every step. So a learn call's batches are drawn from the
  priorities of its start (with num_updates = 1, no difference). Before
  learning starts the updates are masked (NO_INDEX), not selected.

  carry: (params, target_params, opt_state, gradient_steps, replay_state).
  Returns (carry, metrics averaged over the steps, this device's).
  """
  *learner, replay_state = carry  # the buffer is only read by the steps

  def update(learner, update_key, apply: bool):
    params, target_params, opt_state, steps = learner
    sample_key, loss_key = jax.random.split(update_key)
    sample = buffer.sample(replay_state, sample_key, batch_size)
    if not apply:  # the buffer is not ready: the loss is only measured
      loss_value, (priorities, metrics) = objective(
          params, target_params, sample, loss_key
      )
      return learner, (
          dict(loss=loss_value, **metrics),
          (sample.indices, priorities),
      )
    (loss_value, (priorities, metrics)), grads = jax.value_and_grad(
        objective, has_aux=True
    )(params, target_params, sample, loss_key)
    grads = jax.lax.pmean(grads, types.DEVICE_AXIS)
    deltas, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, deltas)
    steps = steps + 1
    if target_update_tau is not None:  # Polyak averaging, every step
      target_params = optax.incremental_update(
          params, target_params, target_update_tau
      )
    else:
      target_params = jax.lax.cond(  # optax.periodic_update, as a branch
          every_seed(steps % target_update_period == 0),
          lambda: params,
          lambda: target_params,
      )
    return (
        (params, target_params, opt_state, steps),
        (dict(loss=loss_value, **metrics), (sample.indices, priorities)),
    )

  keys = jax.random.split(key, num_updates)

  def train(learner):
    return jax.lax.scan(functools.partial(update, apply=True), learner, keys)

  def measure(learner):
    return (
        learner,
        jax.lax.scan(functools.partial(update, apply=False), learner, keys)[1],
    )

  learner, (metrics, (indices, priorities)) = jax.lax.cond(
      every_seed(ready), train, measure, tuple(learner)
  )
  for i in range(num_updates):
    replay_state = buffer.update(
        replay_state,
        jnp.where(ready, indices[i], replay_lib.NO_INDEX),
        priorities[i],
    )
  return (*learner, replay_state), jax.tree.map(jnp.mean, metrics)


@dataclasses.dataclass(frozen=True)
class Acting:
  """How a value-based learner acts: the contract's acting functions.

  actor_params: (ValueBasedState) -> what `act` needs.
  initial_actor_state: (key) -> one environment's actor state.
  act: (actor_params, actor_state, timestep, key, evaluation) -> (action,
    actor_state, extras), for ONE environment (types.Agent.act).
  metrics: (global env steps) -> the acting schedule's metrics, logged by
    `learn` (epsilon).
  policy: (params, observation batch) -> the greedy action batch mu(s), or
    None; `learn` hands it, bound to the current params, to the buffer's
    `train` (imagination rollouts, agents/replay/imagination.py).
  """

  actor_params: Callable[[ValueBasedState], Any]
  initial_actor_state: Callable[[chex.PRNGKey], Any]
  act: Callable[..., tuple[chex.Array, Any, Any]]
  metrics: Callable[[chex.Array], dict[str, chex.Array]] = lambda steps: {}
  policy: Callable[[Any, chex.Array], chex.Array] | None = None


def epsilon_greedy_acting(
    action_values: Callable[[Any, chex.Array, chex.PRNGKey], chex.Array],
    *,
    epsilon_start: float,
    epsilon_end: float,
    epsilon_decay_env_steps: int,
    eval_epsilon: float = 0.0,
) -> Acting:
  """Epsilon-greedy on Q(s, .), epsilon annealed linearly in env steps."""
  epsilon_schedule = optax.linear_schedule(
      epsilon_start, epsilon_end, max(int(epsilon_decay_env_steps), 1)
  )

  def actor_params(state: ValueBasedState) -> EpsilonGreedyParams:
    return EpsilonGreedyParams(state.params, epsilon_schedule(state.env_steps))

  def act(
      params: EpsilonGreedyParams,
      actor_state,
      timestep,
      key,
      evaluation: bool = False,
  ):
    q_key, explore_key = jax.random.split(key)
    q_values = action_values(params.params, timestep.observation, q_key)
    epsilon = eval_epsilon if evaluation else params.epsilon
    action = rlax.epsilon_greedy(epsilon).sample(explore_key, q_values)
    return action.astype(jnp.int32), actor_state, dict(q_values=q_values)

  return Acting(
      actor_params=actor_params,
      initial_actor_state=types.no_actor_state,
      act=act,
      metrics=lambda env_steps: dict(epsilon=epsilon_schedule(env_steps)),
  )


def continuous_acting(
    policy: Callable[[Any, chex.Array], chex.Array],
    action_spec,
    *,
    noise: str,
    sigma: float,
    ou_theta: float = 0.15,
) -> Acting:
  """A deterministic policy mu(s) in a continuous action space, explored
  with noise from agents/lib/continuous.py (NAF, DDPG).

  policy: (params, ONE observation) -> mu(s) [d], inside the action bounds.
  noise: "gaussian" (u = mu + sigma (high - low)/2 eps, clipped; no actor
    state) or "ou" (Ornstein-Uhlenbeck: the per-environment actor state is
    the noise n [d], set to 0 at the first step of every episode, then
    n <- n - theta n + sigma eps and u = mu + (high - low)/2 n, clipped).
  Evaluation acts with mu(s), no noise. Bounds come from
  `continuous.action_bounds` (UserError for a spec without finite ones).
  """
  if noise not in continuous.NOISE_KINDS:
    raise ValueError(
        f"config.exploration_noise={noise!r} is not allowed: it must be one "
        f"of {', '.join(continuous.NOISE_KINDS)}"
    )
  low, high = continuous.action_bounds(action_spec)

  def actor_params(state: ValueBasedState):
    return state.params

  def initial_actor_state(key: chex.PRNGKey):
    del key
    return jnp.zeros(low.shape, jnp.float32) if noise == "ou" else ()

  def act(params, actor_state, timestep, key, evaluation: bool = False):
    mean = policy(params, timestep.observation)
    if evaluation:
      return mean, actor_state, {}
    if noise == "gaussian":
      action = continuous.gaussian_noise(mean, key, sigma, low, high)
      return action, actor_state, {}
    state = jnp.where(timestep.first(), 0.0, actor_state)  # episode start
    state = continuous.ou_step(state, key, ou_theta, sigma)
    return continuous.ou_action(mean, state, low, high), state, {}

  return Acting(
      actor_params=actor_params,
      initial_actor_state=initial_actor_state,
      act=act,
      policy=policy,
  )


def continuous_acting_from_config(
    policy: Callable[[Any, chex.Array], chex.Array],
    config,
    action_spec,
) -> Acting:
  """`continuous_acting` with the config's exploration keys
  (`exploration_noise`, `exploration_sigma`, `ou_theta`)."""
  return continuous_acting(
      policy,
      action_spec,
      noise=config.exploration_noise,
      sigma=config.exploration_sigma,
      ou_theta=config.ou_theta,
  )


def make_value_based_agent(
    *,
    name: str,
    network: nn.Module,
    loss: Callable[..., tuple[chex.Array, chex.Array, dict[str, chex.Array]]],
    optimizer: optax.GradientTransformation,
    gamma: float,
    replay: replay_lib.ReplayBuffer,
    min_replay_size: int,
    batch_size: int,
    num_updates: int,
    target_update_period: int = 1,
    action_values: (
        Callable[[Any, chex.Array, chex.PRNGKey], chex.Array] | None
    ) = None,
    epsilon_start: float | None = None,
    epsilon_end: float | None = None,
    epsilon_decay_env_steps: int | None = None,
    eval_epsilon: float = 0.0,
    network_takes_key: bool = False,
    acting: Acting | None = None,
    target_update_tau: float | None = None,
    objective: Callable[..., Any] | None = None,
) -> types.Agent:
  """Builds the contract's functions around an algorithm's network and loss.

  `replay`: any `agents.replay` buffer; `num_updates`: gradient steps per
  learn call. `acting`: how it acts; by default epsilon-greedy on
  `action_values` with the epsilon schedule. `target_update_tau`: soft
  target updates after every gradient step instead of hard copies every
  `target_update_period` steps. `objective`: replaces the weighted per-item
  `loss` (`weighted_loss`) as what is differentiated.
  """
  buffer = replay
  if acting is None:
    acting = epsilon_greedy_acting(
        action_values,
        epsilon_start=epsilon_start,
        epsilon_end=epsilon_end,
        epsilon_decay_env_steps=epsilon_decay_env_steps,
        eval_epsilon=eval_epsilon,
    )
  if objective is None:
    objective = functools.partial(weighted_loss, loss)

  def init(key: chex.PRNGKey, specs: types.EnvSpecs) -> ValueBasedState:
    net_key, tau_key = jax.random.split(key)
    dummy_obs = jnp.zeros(specs.observation.shape, jnp.float32)
    if network_takes_key:
      params = network.init(net_key, dummy_obs, tau_key)
    else:
      params = network.init(net_key, dummy_obs)
    example = dict(
        observation=jnp.zeros(specs.observation.shape, specs.observation.dtype),
        action=jnp.zeros(specs.action.shape, specs.action.dtype),
        reward=jnp.zeros((), jnp.float32),
        discount=jnp.zeros((), jnp.float32),
        next_observation=jnp.zeros(
            specs.observation.shape, specs.observation.dtype
        ),
        valid=jnp.zeros((), jnp.float32),
    )
    replay_state = buffer.init(
        example, key=jax.random.fold_in(key, _BUFFER_INIT_STREAM)
    )
    return ValueBasedState(
        params=params,
        target_params=params,
        opt_state=optimizer.init(params),
        replay=replay_state,
        env_steps=jnp.zeros((), jnp.int32),
        gradient_steps=jnp.zeros((), jnp.int32),
    )

  def learn(
      state: ValueBasedState, trajectory: types.Trajectory, key: chex.PRNGKey
  ):
    items = transitions_from_trajectory(trajectory, gamma)
    replay_state = buffer.add(state.replay, items)
    num_items = items["valid"].shape[0]
    env_steps = state.env_steps + num_items * jax.lax.psum(1, types.DEVICE_AXIS)
    ready = buffer.size(replay_state) >= min_replay_size
    policy = None
    if acting.policy is not None:  # the current policy, for model rollouts
      policy = lambda obs, _: acting.policy(state.params, obs)
    trained, buffer_metrics = buffer.train(
        replay_state, jax.random.fold_in(key, _BUFFER_TRAIN_STREAM), policy
    )
    replay_state = _gate(ready, trained, replay_state)

    carry = (
        state.params,
        state.target_params,
        state.opt_state,
        state.gradient_steps,
        replay_state,
    )
    carry, metrics = replay_gradient_steps(
        buffer,
        optimizer,
        objective,
        carry,
        ready=ready,
        key=key,
        batch_size=batch_size,
        num_updates=num_updates,
        target_update_period=target_update_period,
        target_update_tau=target_update_tau,
    )
    params, target_params, opt_state, steps, replay_state = carry
    metrics.update(buffer_metrics)
    metrics = jax.lax.pmean(metrics, types.DEVICE_AXIS)
    metrics.update(acting.metrics(env_steps))
    new_state = ValueBasedState(
        params=params,
        target_params=target_params,
        opt_state=opt_state,
        replay=replay_state,
        env_steps=env_steps,
        gradient_steps=steps,
    )
    return new_state, metrics

  return types.Agent(
      name=name,
      init=init,
      actor_params=acting.actor_params,
      initial_actor_state=acting.initial_actor_state,
      act=acting.act,
      learn=learn,
  )


def total_gradient_steps(config, run: types.RunInfo) -> int:
  """The run's gradient steps: `run.learn_calls` (computed once by the
  runtime from the loop it built) x `num_updates` per call. The calls made
  before the buffer holds `min_replay_size` items take no step, so the true
  count is a little lower: schedules over it end just short of their final
  value."""
  return max(1, run.learn_calls * config.num_updates)


def learning_rate_anneal_steps(config, run: types.RunInfo) -> int:
  """Gradient steps over which `anneal_learning_rate` decays the rate to 0:
  `total_gradient_steps`, so the rate ends just above 0. 0 (no annealing)
  unless `config.anneal_learning_rate`."""
  if not config.get("anneal_learning_rate", False):
    return 0
  return total_gradient_steps(config, run)


def make_from_config(
    config,
    *,
    specs: types.EnvSpecs,
    run: types.RunInfo,
    name: str,
    network: nn.Module,
    loss,
    action_values=None,
    network_takes_key: bool = False,
    acting: Acting | None = None,
    optimizer: optax.GradientTransformation | None = None,
    objective=None,
) -> types.Agent:
  """`make_value_based_agent` with the shared keys read from a DQN-family
  config (configs/dqn.py), so each agent passes only what is its own; `run`
  (types.RunInfo) sizes the schedules over gradient steps. The replay kind is `config.replay` (`agents.replay.make_replay`).

  Continuous-action agents (NAF, DDPG) pass their `acting`
  (`continuous_acting`) and have no epsilon keys; a config with
  `target_update_tau` gets soft target updates (no `target_update_period`
  needed). `optimizer` replaces the one `config.optimizer` names (DDPG's
  two learning rates).
  """
  if optimizer is None:
    optimizer = optimizers.make_optimizer(
        config.optimizer,
        config.learning_rate,
        max_grad_norm=config.max_grad_norm,
        anneal_steps=learning_rate_anneal_steps(config, run),
    )
  epsilon = (
      {}
      if acting is not None
      else dict(
          epsilon_start=config.epsilon_start,
          epsilon_end=config.epsilon_end,
          epsilon_decay_env_steps=config.epsilon_decay_env_steps,
          eval_epsilon=config.eval_epsilon,
      )
  )
  tau = config.get("target_update_tau", None)
  return make_value_based_agent(
      name=name,
      network=network,
      action_values=action_values,
      loss=loss,
      optimizer=optimizer,
      gamma=config.gamma,
      replay=replay_lib.make_replay(
          config, specs, gradient_steps=total_gradient_steps(config, run)
      ),
      min_replay_size=config.min_replay_size,
      batch_size=config.batch_size,
      num_updates=config.num_updates,
      target_update_period=(config.target_update_period if tau is None else 1),
      network_takes_key=network_takes_key,
      acting=acting,
      target_update_tau=None if tau is None else float(tau),
      objective=objective,
      **epsilon,
  )


def fixed_statistics_loss(
    network: nn.Module,
    per_transition_loss,
    statistic_levels: chex.Array,
    loss_param,
    double_q: bool,
):
  """The batch loss of an agent whose network emits fixed-level statistics
  (QR-DQN's quantiles, ER-DQN's expectiles), from an rlax-style loss of ONE
  transition: `per_transition_loss(dist_q_tm1, levels, a_tm1, r_t, discount_t,
  dist_q_t_selector, dist_q_t, loss_param)`. The greedy next action is chosen
  on the target network's statistics, or the online one's with `double_q`.
  Each item's priority for prioritized replay is its own loss.
  """

  def loss(params, target_params, batch, key):
    del key
    dist_q_tm1 = network.apply(params, batch["observation"])
    dist_q_t = network.apply(target_params, batch["next_observation"])
    dist_q_t_selector = (
        network.apply(params, batch["next_observation"])
        if double_q
        else dist_q_t
    )
    per_item = jax.vmap(
        per_transition_loss, in_axes=(0, None, 0, 0, 0, 0, 0, None)
    )(
        dist_q_tm1,
        statistic_levels,
        batch["action"],
        batch["reward"],
        batch["discount"],
        dist_q_t_selector,
        dist_q_t,
        loss_param,
    )
    return per_item, per_item, {}  # priority: the item's own loss

  return loss
