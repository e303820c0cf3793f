"""Meta-RL A2C: a recurrent (LSTM) actor-critic that learns to learn.

Papers:
  J. X. Wang, Z. Kurth-Nelson, D. Kumaran, D. Tirumala, H. Soyer, J. Z. Leibo,
  D. Hassabis, M. Botvinick. "Prefrontal cortex as a meta-reinforcement
  learning system". Nature Neuroscience 21 (2018), Methods.
  J. X. Wang et al. "Learning to reinforcement learn". arXiv:1611.05763 (2016).
  Y. Duan et al. "RL^2: Fast reinforcement learning via slow reinforcement
  learning". arXiv:1611.02779 (2016).
  The loss is A2C's (Mnih et al. 2016), shared with the feed-forward agent in
  `agents.lib.actor_critic`.

The agent ("prefrontal network", Wang 2018 Methods; code in `core_step`):
  x_t = [o_t, onehot(a_{t-1}), r_{t-1}]       input: observation, previous
                                              action, previous reward (the
                                              bandits' trial index is part of
                                              o_t: `observe_trial_index`)
  (c_t, h_t) = LSTM(x_t, (c_{t-1}, h_{t-1}))   48 units (`lstm_size`); the
                                              forget gate's bias starts at
                                              `forget_bias` (lib.recurrent.
                                              with_forget_bias)
  pi(. | h_t) = softmax(W_pi h_t + b_pi),  V(h_t) = w_v . h_t + b_v
  At an episode's FIRST step (a new task instance), (c, h) and a_{t-1} are
  reset to zeros BEFORE the step is processed; r_{t-1} is the FIRST
  timestep's reward, which dm_env semantics make 0. After training the
  weights are frozen: all within-episode learning lives in (c, h).
Loss (A2C, `actor_critic.actor_critic_loss`), per chunk:
  R_t = r_{t+1} + gamma R_{t+1} (n-step, 0 bootstrap at the episode's end;
        with `gae_lambda` < 1 the lambda-return, whose advantage R_t - V(h_t)
        is GAE(lambda), Schulman et al. 2016)
  L = - log pi(a_t|h_t)(R_t - V(h_t)) + beta_v 1/2 (R_t - V(h_t))^2
      - beta_e(n) H(pi(.|h_t))
  with beta_v = `value_coef` (0.05 in the paper) and an entropy cost beta_e
  annealed linearly from `entropy_start` to `entropy_end` over
  `entropy_anneal_env_steps` env steps (0 = the whole run), using the env
  step counter in the agent state. Gradients flow through the whole chunk
  (back-propagation through time from the chunk's last step to its first).
  Optimiser: RMSProp as in the paper (`lib.optimizers`; lr 7e-4 there, larger
  here with many environments per update, see configs/meta_a2c.py), global
  gradient-norm clipping `max_grad_norm`.

Where the inputs live:
  actor state = (LSTM core state (c, h), onehot(a_{t-1})). The previous
  reward is not duplicated there: r_{t-1} is exactly `timestep.reward` of the
  timestep the agent is acting on (dm_env puts the reward that followed
  a_{t-1} on the next timestep, and 0 on FIRST). `use_reward_input=False`
  removes r_{t-1} from x_t (the ablation of Wang et al.: the agent then cannot
  learn within an episode and falls to chance).

Chunks and episode boundaries (the design, see also configs/meta_a2c.py):
  Every meta-RL task here has a fixed episode length L (L = num_trials for
  the bandits, 2 * num_trials for Harlow and two-step) and the loop's stream
  of timesteps per environment is FIRST, MID x (L - 1), LAST, then the step
  after LAST is the FIRST of the next episode (its action is ignored). One
  episode therefore occupies L + 1 env steps (L decisions + the ignored
  action at LAST). With `rollout_length = L + 1` and the loop's one-step
  overlap, chunk k holds timesteps [FIRST, MID..., LAST, FIRST'] of exactly
  one episode plus the next episode's FIRST: the learner sees whole episodes
  and BPTT covers each episode from its first to its last decision. The
  action taken at LAST is masked by the loss (`valid`); the final FIRST' only
  supplies a bootstrap value that the terminal discount (0) zeroes. Other
  rollout lengths also work (truncated BPTT): `learn` starts the unroll from
  `trajectory.actor_state`, the actor state before acting on timestep[0], and
  resets wherever a step is FIRST, so the recomputed outputs equal what `act`
  produced step by step.

Evaluation (`act(..., evaluation=True)`): weights are only read. Wang et al.
  sample actions from the policy at test time; `eval_greedy=False` (default)
  does the same, `eval_greedy=True` takes the argmax.
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from flax import struct

from agents import types
from agents.lib import actor_critic
from agents.lib import networks
from agents.lib import optimizers
from agents.lib import recurrent
from agents.lib.recurrent import ActorState


@struct.dataclass
class MetaA2CState:
  params: chex.ArrayTree
  opt_state: chex.ArrayTree
  env_steps: chex.Array  # int32, env steps learned from (all devices)


class RecurrentActorCritic(nn.Module):
  """One step of the LSTM actor-critic: (core, x_t) -> (core', logits, value)."""

  num_actions: int
  lstm_size: int

  @nn.compact
  def __call__(self, core, inputs):
    core, hidden = nn.OptimizedLSTMCell(self.lstm_size, name="lstm")(
        core, inputs
    )
    logits = nn.Dense(
        self.num_actions,
        name="policy",
        kernel_init=nn.initializers.orthogonal(0.01),
    )(hidden)
    value = nn.Dense(
        1, name="value", kernel_init=nn.initializers.orthogonal(1.0)
    )(hidden)
    return core, logits, jnp.squeeze(value, -1)


def entropy_coefficient(
    config: ml_collections.ConfigDict, env_steps: chex.Array
) -> chex.Array:
  """beta_e: linear from entropy_start to entropy_end, then constant."""
  anneal = config.get("entropy_anneal_env_steps", 0) or config.total_env_steps
  fraction = jnp.clip(env_steps.astype(jnp.float32) / float(anneal), 0.0, 1.0)
  return config.entropy_start + fraction * (
      config.entropy_end - config.entropy_start
  )


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  return make_agent_and_unroll(config, specs, run)[0]


def make_agent_and_unroll(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
):
  """(agent, unroll); `unroll(params, trajectory) -> (logits [T+1, B, A],
  values [T+1, B])` is what `learn` differentiates (exposed for tests)."""
  num_actions = int(specs.action.num_values)
  observation_rank = len(specs.observation.shape)
  lstm_size = int(config.lstm_size)
  use_reward_input = bool(config.use_reward_input)
  eval_greedy = bool(config.eval_greedy)
  forget_bias = float(config.get("forget_bias", 0.0))
  network = RecurrentActorCritic(num_actions=num_actions, lstm_size=lstm_size)
  anneal = {}
  if config.get("anneal_learning_rate", False):  # to 0 at the last update
    anneal["anneal_steps"] = run.learn_calls
  optimizer = optimizers.make_optimizer(
      config.optimizer,
      config.learning_rate,
      max_grad_norm=config.max_grad_norm,
      rmsprop_decay=config.rmsprop_decay,
      eps=config.optimizer_eps,
      **anneal,
  )

  def initial_actor_state(key=None) -> ActorState:
    del key  # the initial core state is zeros
    return recurrent.initial_actor_state(lstm_size, num_actions)

  def network_inputs(timestep, previous_action):
    """x_t = [o_t, onehot(a_{t-1}), r_{t-1}] (any leading batch axes)."""
    observation = networks.flatten_observation(
        timestep.observation, observation_rank
    )
    parts = [observation, previous_action]
    if use_reward_input:
      parts.append(timestep.reward.astype(jnp.float32)[..., None])
    return jnp.concatenate(parts, axis=-1)

  def core_step(params, actor_state: ActorState, timestep):
    """Reset at FIRST, then one LSTM step: -> (core', logits, value)."""
    actor_state = recurrent.reset_at_first(actor_state, timestep.first())
    inputs = network_inputs(timestep, actor_state.previous_action)
    return network.apply(params, actor_state.core, inputs)

  def init(key, specs):
    state = initial_actor_state()
    dummy = jnp.zeros(specs.observation.shape, jnp.float32)
    inputs = jnp.concatenate(
        [
            networks.flatten_observation(dummy, observation_rank),
            state.previous_action,
        ]
        + ([jnp.zeros((1,))] if use_reward_input else [])
    )
    params = network.init(key, state.core, inputs)
    params = recurrent.with_forget_bias(params, forget_bias)
    return MetaA2CState(
        params=params,
        opt_state=optimizer.init(params),
        env_steps=jnp.zeros((), jnp.int32),
    )

  def actor_params(state: MetaA2CState):
    return state.params

  def act(
      params, actor_state: ActorState, timestep, key, evaluation: bool = False
  ):
    core, logits, value = core_step(params, actor_state, timestep)
    if evaluation and eval_greedy:
      action = jnp.argmax(logits, axis=-1)
    else:
      action = jax.random.categorical(key, logits)
    action = action.astype(jnp.int32)
    new_state = ActorState(
        core=core,
        previous_action=jax.nn.one_hot(action, num_actions, dtype=jnp.float32),
    )
    return action, new_state, dict(logits=logits, value=value)

  def unroll(params, trajectory: types.Trajectory):
    """Logits [T+1, B, A] and values [T+1, B] recomputed over the chunk.

    Starts from `trajectory.actor_state` (the state before acting on
    timestep[0]); after step t the previous action becomes action[t]. The
    carry is reset (jnp.where) wherever step_type is FIRST, inside
    `core_step`, exactly as `act` does.
    """
    timesteps = trajectory.timestep
    # The action after the chunk's last step is not in the chunk (nor needed).
    next_actions = jnp.concatenate(
        [trajectory.action, jnp.zeros_like(trajectory.action[:1])], axis=0
    )

    def step(actor_state, inputs):
      timestep, action = inputs
      core, logits, value = core_step(params, actor_state, timestep)
      new_state = ActorState(
          core=core,
          previous_action=jax.nn.one_hot(
              action, num_actions, dtype=jnp.float32
          ),
      )
      return new_state, (logits, value)

    _, (logits, values) = jax.lax.scan(
        step, trajectory.actor_state, (timesteps, next_actions)
    )
    return logits, values

  def loss_fn(params, trajectory: types.Trajectory, state: MetaA2CState):
    logits, values = unroll(params, trajectory)
    return actor_critic.actor_critic_loss(
        logits,
        values,
        trajectory,
        gamma=config.gamma,
        value_coef=config.value_coef,
        entropy_coef=entropy_coefficient(config, state.env_steps),
        gae_lambda=config.get("gae_lambda", 1.0),
    )

  gradients, apply, learn = actor_critic.make_learner(
      loss_fn,
      optimizer,
      extra_metrics=lambda state: dict(
          entropy_coef=entropy_coefficient(config, state.env_steps)
      ),
  )

  agent = types.Agent(
      name="meta_a2c",
      init=init,
      actor_params=actor_params,
      initial_actor_state=initial_actor_state,
      act=act,
      learn=learn,
      gradients=gradients,
      apply=apply,
  )
  return agent, unroll
