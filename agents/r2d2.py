"""R2D2: a recurrent (LSTM) Q-learner trained from replayed sequences.

Paper: S. Kapturowski, G. Ostrovski, J. Quan, R. Munos, W. Dabney.
"Recurrent experience replay in distributed reinforcement learning". ICLR
2019. (Double Q-learning: van Hasselt et al. 2016; prioritized replay:
Schaul et al. 2016; the value rescaling h: Pohlen et al. 2018.)

Network (Section 2.3; a torso, an LSTM fed the previous action and reward,
a Q head; code in `RecurrentQNetwork` and `core_step`):
  x_t = [torso(o_t), onehot(a_{t-1}), r_{t-1}]
  (c_t, h_t) = LSTM(x_t, (c_{t-1}, h_{t-1})),   Q(h_t, .) = W h_t + b
  At an episode's FIRST step the actor state ((c, h) and a_{t-1}) is reset
  to zeros before the step (`lib/recurrent.reset_at_first`); r_{t-1} is the
  reward on the timestep acted on, 0 at FIRST (as in agents/meta_a2c.py).
  The paper's torso is convolutional and its head dueling; here the torso is
  an MLP (`hidden_sizes`) and the head linear. The forget gate's bias starts
  at `forget_bias` (1, TensorFlow's LSTM default; flax starts it at 0:
  `lib.recurrent.with_forget_bias`).

Sequence replay with a stored state and burn-in (Section 3; the buffer is
`agents/replay/sequence.py`): every step's actor state (what `act` fed the
LSTM, after the reset) goes out in `extras["actor_state"]`; the buffer keeps
it for the steps that start a window of m = `sequence_length` steps
(a window every `sequence_period` steps). A sampled window is unrolled from
that stored state; its first `burn_in` steps only refresh the state (no
gradient flows through them, `jax.lax.stop_gradient`), and the loss covers
the remaining steps. The target network is unrolled over the same window
from the same stored state.

Loss (Section 2.3, Table 2), per window, over the steps t = burn_in ..
m - 2 (each needs the next step's Q; code in `sequence_td_errors`):
  a*_{t+k} = argmax_a Q(h_{t+k}, a; theta)                    (double Q)
  G_t = h( sum_{k=0}^{n-1} gamma^k r_{t+k+1}
           + gamma^n h^{-1}( Q(h_{t+n}, a*_{t+n}; theta^-) ) )
  delta_t = G_t - Q(h_t, a_t; theta)
  with h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x (eps 1e-3), h^{-1} its
  inverse: rlax.SIGNED_HYPERBOLIC_PAIR (`value_rescaling`; identity without
  it). The n-step return is rlax.transformed_n_step_returns; n = `n_step`
  (5 in the paper), truncated at the window's end (bootstrapping from its
  last step) and at episode boundaries: a terminal step's discount is 0, and
  lambda_{t+1} = 0 at a LAST step stops the recursion there, so a truncated
  episode (LAST with discount 1) bootstraps from its last state and never
  from the next episode (as lib/returns.py does for chunks). Actions taken
  at a LAST step (ignored by the task) weigh nothing (`valid`).
  L(window) = 1/2 sum_t valid_t delta_t^2 / max(sum_t valid_t, 1), and the
  batch loss is the mean over windows of w_i L_i with the replay's
  importance weights w_i (ones for uniform sequence replay).
  Priority of a window (Section 2.3, eta = `priority_eta` = 0.9):
  p = eta max_t |delta_t| + (1 - eta) mean_t |delta_t| over its valid steps.
  theta^- is copied from theta every `target_update_period` gradient steps
  (2500 in the paper); Adam (lr 1e-4, eps 1e-3 in the paper).

Acting: epsilon-greedy on Q(h_t, .). The paper gives each of its 256 actors
a fixed epsilon_i = 0.4^(1 + 7 i / 255) (Ape-X); here `act` does not know
which environment it serves (the loop vmaps one function over them), so
epsilon is annealed linearly in environment steps as in DQN
(`epsilon_start`, `epsilon_end`, `epsilon_decay_env_steps`).

Replay, gradient steps and the target network are the value-based learner's
(`lib/value_based.replay_gradient_steps`: num_updates steps per learn call
once the buffer holds `min_replay_size` windows, gradients pmean'd over
`types.DEVICE_AXIS`, priorities handed back to the buffer).
"""

from __future__ import annotations

import functools
from typing import Sequence as Seq

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
import rlax

from agents import replay as replay_lib
from agents import types
from agents.lib import networks
from agents.lib import optimizers
from agents.lib import recurrent
from agents.lib import value_based
from agents.lib.recurrent import ActorState
from agents.replay import sequence
from agents.runtime.errors import UserError
from environments import base


class RecurrentQNetwork(nn.Module):
  """One step: (core, o_t, onehot(a_{t-1}), r_{t-1}) -> (core', Q(h_t, .)).

  Any leading batch axes (the same on every input).
  """

  num_actions: int
  lstm_size: int
  hidden_sizes: Seq[int]
  observation_rank: int = 1

  @nn.compact
  def __call__(self, core, observation, previous_action, previous_reward):
    x = networks.flatten_observation(observation, self.observation_rank)
    x = networks.MLP(tuple(self.hidden_sizes))(x)
    x = jnp.concatenate(
        [x, previous_action, previous_reward.astype(jnp.float32)[..., None]],
        axis=-1,
    )
    core, hidden = nn.OptimizedLSTMCell(self.lstm_size, name="lstm")(core, x)
    return core, nn.Dense(self.num_actions, name="q")(hidden)


def sequence_td_errors(
    q_online: chex.Array,
    q_target: chex.Array,
    actions: chex.Array,
    rewards: chex.Array,
    discounts: chex.Array,
    step_types: chex.Array,
    *,
    gamma: float,
    n_step: int,
    burn_in: int,
    tx_pair: rlax.TxPair = rlax.IDENTITY_PAIR,
) -> tuple[chex.Array, chex.Array]:
  """R2D2's transformed n-step double-Q TD errors of ONE window.

  Args:
    q_online: Q(h_t, .; theta) [m, A] for every step of the window.
    q_target: Q(h_t, .; theta^-) [m, A].
    actions: a_t [m] (the action taken at step t).
    rewards: the reward ON timestep t [m] (the one that followed a_{t-1}).
    discounts: the discount on timestep t [m] (0 at termination).
    step_types: [m] FIRST / MID / LAST.
    gamma, n_step, burn_in, tx_pair: as in the module docstring.

  Returns:
    (delta [L], valid [L]) for the steps t = burn_in .. m - 2 (L = m - 1 -
    burn_in); valid_t = 0 where a_t was taken at a LAST step. No gradient
    flows through the targets.
  """
  chex.assert_rank(
      [q_online, q_target, actions, rewards, discounts, step_types],
      [2, 2, 1, 1, 1, 1],
  )
  chex.assert_equal_shape([q_online, q_target])
  q_tm1 = q_online[burn_in:-1]
  a_tm1 = actions[burn_in:-1]
  r_t = rewards[burn_in + 1 :]
  discount_t = gamma * discounts[burn_in + 1 :]
  last_t = step_types[burn_in + 1 :] == base.LAST
  lambda_t = jnp.where(last_t, 0.0, 1.0)  # restart the return at LAST
  selector_t = jnp.argmax(q_online[burn_in + 1 :], axis=-1)  # double Q
  v_t = rlax.batched_index(q_target[burn_in + 1 :], selector_t)
  target_tm1 = rlax.transformed_n_step_returns(
      tx_pair,
      r_t,
      discount_t,
      v_t,
      n_step,
      lambda_t,
      stop_target_gradients=True,
  )
  delta = target_tm1 - rlax.batched_index(q_tm1, a_tm1)
  valid = (step_types[burn_in:-1] != base.LAST).astype(jnp.float32)
  return delta, valid


def sequence_priority(
    delta: chex.Array, valid: chex.Array, eta: float
) -> chex.Array:
  """p = eta max_t |delta_t| + (1 - eta) mean_t |delta_t| over valid steps."""
  chex.assert_equal_shape([delta, valid])
  magnitude = jnp.abs(delta) * valid
  mean = jnp.sum(magnitude, -1) / jnp.maximum(jnp.sum(valid, -1), 1.0)
  return eta * jnp.max(magnitude, -1) + (1.0 - eta) * mean


def sequence_items_from_trajectory(
    trajectory: types.Trajectory,
) -> sequence.SequenceItem:
  """A [T+1, B] chunk -> the T steps [T, B] that sequence replay appends.

  Steps 0..T-1 of the chunk; step T is the next chunk's step 0, so each
  environment's stream is stored without a gap or a repeat. The recurrent
  state of step t is what `act` fed the LSTM there (`extras`).
  """
  ts = trajectory.timestep
  return sequence.SequenceItem(
      step=dict(
          observation=ts.observation[:-1],
          action=trajectory.action,
          reward=ts.reward[:-1],
          discount=ts.discount[:-1],
          step_type=ts.step_type[:-1],
      ),
      first=ts.first()[:-1],
      recurrent_state=trajectory.extras["actor_state"],
  )


def envs_per_device(config: ml_collections.ConfigDict) -> int:
  """Environments whose streams feed one device's buffer: the loop splits
  `num_envs` over `num_devices` devices (0 = all, as agents/runtime/train.py
  resolves it)."""
  devices = config.get("num_devices", 0) or jax.device_count()
  return max(1, config.num_envs // devices)


def _check_config(config: ml_collections.ConfigDict) -> None:
  """UserError naming the first bad R2D2 key and what is allowed."""

  def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)

  length = config.sequence_length
  checks = (
      (
          "lstm_size",
          is_int(config.lstm_size) and config.lstm_size >= 1,
          "an integer >= 1",
      ),
      (
          "burn_in",
          is_int(config.burn_in) and 0 <= config.burn_in <= length - 2,
          f"an integer in [0, sequence_length - 2 = {length - 2}] (at least "
          "one step of each window must be learned from)",
      ),
      (
          "n_step",
          is_int(config.n_step) and config.n_step >= 1,
          "an integer >= 1",
      ),
      ("priority_eta", 0.0 <= config.priority_eta <= 1.0, "a number in [0, 1]"),
      (
          "value_rescaling",
          isinstance(config.value_rescaling, bool),
          "True or False",
      ),
      ("optimizer_eps", config.optimizer_eps > 0, "a positive number"),
      (
          "forget_bias",
          isinstance(config.forget_bias, (int, float))
          and not isinstance(config.forget_bias, bool),
          "a number",
      ),
  )
  for key, good, allowed in checks:
    if not good:
      raise UserError(
          f"config.{key}={config[key]!r} is not allowed: it must "
          f"be {allowed}"
      )


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  if config.get("replay", "sequence") != "sequence":
    raise UserError(
        f"config.replay={config.replay!r} is not allowed for "
        "r2d2: a recurrent agent learns from replayed sequences "
        "(config.replay='sequence')"
    )
  buffer = replay_lib.make_replay(
      config, specs, num_envs=envs_per_device(config)
  )
  _check_config(config)
  return make_agent_with_buffer(config, specs, buffer, run)[0]


def make_agent_with_buffer(
    config,
    specs: types.EnvSpecs,
    buffer: sequence.SequenceReplay,
    run: types.RunInfo,
):
  """(agent, sequence_loss); `sequence_loss(params, target_params, sample)
  -> (loss, (priorities, metrics))` is what `learn` differentiates (exposed
  for tests)."""
  num_actions = int(specs.action.num_values)
  lstm_size = int(config.lstm_size)
  burn_in = int(config.burn_in)
  n_step = int(config.n_step)
  gamma = float(config.gamma)
  eta = float(config.priority_eta)
  forget_bias = float(config.forget_bias)
  tx_pair = (
      rlax.SIGNED_HYPERBOLIC_PAIR
      if config.value_rescaling
      else rlax.IDENTITY_PAIR
  )
  network = RecurrentQNetwork(
      num_actions=num_actions,
      lstm_size=lstm_size,
      hidden_sizes=tuple(config.hidden_sizes),
      observation_rank=len(specs.observation.shape),
  )
  optimizer = optimizers.make_optimizer(
      config.optimizer,
      config.learning_rate,
      max_grad_norm=config.max_grad_norm,
      eps=config.optimizer_eps,
      anneal_steps=value_based.learning_rate_anneal_steps(config, run),
  )
  epsilon_schedule = optax.linear_schedule(
      config.epsilon_start,
      config.epsilon_end,
      max(int(config.epsilon_decay_env_steps), 1),
  )

  def initial_actor_state(key=None) -> ActorState:
    del key  # the initial core state is zeros
    return recurrent.initial_actor_state(lstm_size, num_actions)

  def core_step(params, actor_state: ActorState, observation, reward, first):
    """Reset at FIRST, then one LSTM step -> (state used, core', Q)."""
    actor_state = recurrent.reset_at_first(actor_state, first)
    core, q_values = network.apply(
        params,
        actor_state.core,
        observation,
        actor_state.previous_action,
        reward,
    )
    return actor_state, core, q_values

  def init(key, specs):
    state = initial_actor_state()
    params = network.init(
        key,
        state.core,
        jnp.zeros(specs.observation.shape, jnp.float32),
        state.previous_action,
        jnp.zeros((), jnp.float32),
    )
    params = recurrent.with_forget_bias(params, forget_bias)
    example = sequence.SequenceItem(
        step=dict(
            observation=jnp.zeros(
                specs.observation.shape, specs.observation.dtype
            ),
            action=jnp.zeros((), jnp.int32),
            reward=jnp.zeros((), jnp.float32),
            discount=jnp.zeros((), jnp.float32),
            step_type=jnp.zeros((), jnp.int32),
        ),
        first=jnp.zeros((), bool),
        recurrent_state=state,
    )
    return value_based.ValueBasedState(
        params=params,
        target_params=params,
        opt_state=optimizer.init(params),
        replay=buffer.init(example),
        env_steps=jnp.zeros((), jnp.int32),
        gradient_steps=jnp.zeros((), jnp.int32),
    )

  def actor_params(state) -> value_based.EpsilonGreedyParams:
    return value_based.EpsilonGreedyParams(
        state.params, epsilon_schedule(state.env_steps)
    )

  def act(
      params: value_based.EpsilonGreedyParams,
      actor_state: ActorState,
      timestep,
      key,
      evaluation: bool = False,
  ):
    used, core, q_values = core_step(
        params.params,
        actor_state,
        timestep.observation,
        timestep.reward,
        timestep.first(),
    )
    epsilon = config.eval_epsilon if evaluation else params.epsilon
    action = rlax.epsilon_greedy(epsilon).sample(key, q_values)
    action = action.astype(jnp.int32)
    new_state = ActorState(
        core=core,
        previous_action=jax.nn.one_hot(action, num_actions, dtype=jnp.float32),
    )
    return action, new_state, dict(actor_state=used)

  def unroll(params, start_state: ActorState, steps, episode_start):
    """Q [m, batch, A] over time-major windows from the stored state."""

    def step(actor_state, inputs):
      observation, reward, action, first = inputs
      _, core, q_values = core_step(
          params, actor_state, observation, reward, first
      )
      return (
          ActorState(
              core=core,
              previous_action=jax.nn.one_hot(
                  action, num_actions, dtype=jnp.float32
              ),
          ),
          q_values,
      )

    inputs = (
        steps["observation"],
        steps["reward"],
        steps["action"],
        episode_start,
    )
    if not burn_in:
      return jax.lax.scan(step, start_state, inputs)[1]
    head = jax.tree.map(lambda x: x[:burn_in], inputs)
    tail = jax.tree.map(lambda x: x[burn_in:], inputs)
    state, q_head = jax.lax.scan(step, start_state, head)
    state = jax.lax.stop_gradient(state)  # burn-in: no gradient through it
    _, q_tail = jax.lax.scan(step, state, tail)
    return jnp.concatenate([jax.lax.stop_gradient(q_head), q_tail], axis=0)

  def sequence_loss(params, target_params, sample):
    window = sample.items
    time_major = lambda x: jnp.swapaxes(x, 0, 1)
    steps = jax.tree.map(time_major, window.step)
    episode_start = time_major(window.episode_start)
    q_online = unroll(params, window.recurrent_state, steps, episode_start)
    q_target = unroll(
        target_params, window.recurrent_state, steps, episode_start
    )
    batch_major = functools.partial(jnp.swapaxes, axis1=0, axis2=1)
    delta, valid = jax.vmap(
        functools.partial(
            sequence_td_errors,
            gamma=gamma,
            n_step=n_step,
            burn_in=burn_in,
            tx_pair=tx_pair,
        )
    )(
        batch_major(q_online),
        batch_major(q_target),
        window.step["action"],
        window.step["reward"],
        window.step["discount"],
        window.step["step_type"],
    )
    per_window = (
        0.5
        * jnp.sum(valid * delta**2, -1)
        / jnp.maximum(jnp.sum(valid, -1), 1.0)
    )
    loss = jnp.mean(sample.weights * per_window)
    priorities = jax.lax.stop_gradient(sequence_priority(delta, valid, eta))
    metrics = dict(
        mean_abs_td=jnp.sum(jnp.abs(delta) * valid)
        / jnp.maximum(jnp.sum(valid), 1.0),
        q_mean=jnp.mean(q_online[burn_in:]),
    )
    return loss, (priorities, metrics)

  def learn(state, trajectory: types.Trajectory, key):
    replay_state = buffer.add(
        state.replay, sequence_items_from_trajectory(trajectory)
    )
    env_steps = state.env_steps + trajectory.action.size * jax.lax.psum(
        1, types.DEVICE_AXIS
    )
    ready = buffer.size(replay_state) >= config.min_replay_size
    objective = lambda p, tp, sample, _: sequence_loss(p, tp, sample)
    carry = (
        state.params,
        state.target_params,
        state.opt_state,
        state.gradient_steps,
        replay_state,
    )
    carry, metrics = value_based.replay_gradient_steps(
        buffer,
        optimizer,
        objective,
        carry,
        ready=ready,
        key=key,
        batch_size=config.batch_size,
        num_updates=config.num_updates,
        target_update_period=config.target_update_period,
    )
    params, target_params, opt_state, steps, replay_state = carry
    metrics = jax.lax.pmean(metrics, types.DEVICE_AXIS)
    metrics["epsilon"] = epsilon_schedule(env_steps)
    return (
        value_based.ValueBasedState(
            params=params,
            target_params=target_params,
            opt_state=opt_state,
            replay=replay_state,
            env_steps=env_steps,
            gradient_steps=steps,
        ),
        metrics,
    )

  agent = types.Agent(
      name="r2d2",
      init=init,
      actor_params=actor_params,
      initial_actor_state=initial_actor_state,
      act=act,
      learn=learn,
  )
  return agent, sequence_loss
