"""A2C: synchronous advantage actor-critic, the A3C algorithm of Mnih et al.
2016, "Asynchronous methods for deep reinforcement learning" (ICML), without
the asynchrony: gradients are averaged over all environments (and over devices
through the `device` axis) instead of applied by asynchronous threads.

Per chunk of t_max = `rollout_length` steps (Algorithm S3), with pi and V
from an MLP torso with two heads (lib.networks.ActorCritic):
  R = r_t + gamma r_{t+1} + ... + gamma^{k} V(s_{t+k}; theta_v)   n-step return,
      bootstrapped at the chunk's end and at truncations
      (`gae_lambda` < 1: the lambda-return instead, so that A below is
      GAE(lambda) of Schulman et al. 2016; 1, the default, is the paper's)
  A = R - V(s_t)                                                  (stop-gradient)
  policy loss  = - log pi(a_t | s_t) * A
  entropy term = - beta * H(pi(. | s_t))
  value loss   = 1/2 (R - V(s_t))^2, weighted by `value_coef`
-> lib.actor_critic.actor_critic_loss (shared with the recurrent meta-RL A2C).
The policy comes from the task's action spec (lib.policies.for_spec): a
softmax over discrete actions (lib.networks.ActorCritic), or, for a bounded
continuous action [d], the Gaussian of Mnih et al. 2016's continuous
experiments (Section 5.4): mean mu (linear) and variance sigma^2 (softplus)
per dimension, policy and value on separate torsos
(lib.networks.GaussianActorCritic; `shared_torso` to share one), u ~ N(mu,
sigma^2) clipped to the bounds for the task, -log pi(u|s) A with u unclipped,
H = sum 1/2 (log(2 pi sigma^2) + 1); greedy evaluation acts with mu.
Optimizer: shared RMSProp (decay 0.99) in the paper; `optimizer` in the config.
`reward_scale` c (default 1; not the paper's): the loss sees c r_t, so R, V
and A are in units of c (A's sign, hence the policy's direction, is the
same; its size against the entropy term is c times).
"""

from __future__ import annotations

from typing import Callable

import chex
import jax.numpy as jnp
import ml_collections
import optax
from flax import struct

from agents import types
from agents.lib import actor_critic
from agents.lib import networks
from agents.lib import optimizers
from agents.lib import policies


@struct.dataclass
class A2CState:
  params: chex.ArrayTree
  opt_state: chex.ArrayTree
  env_steps: chex.Array


ACTION_SPACES = ("discrete", "continuous")  # lib.policies.for_spec


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  """`run.learn_calls`: the updates `anneal_learning_rate` anneals over, so
  the rate reaches 0 exactly at the run's last update."""
  optimizer = optimizers.make_optimizer(
      config.optimizer,
      config.learning_rate,
      max_grad_norm=config.max_grad_norm,
      rmsprop_decay=config.rmsprop_decay,
      eps=config.optimizer_eps,
      anneal_steps=run.learn_calls if config.anneal_learning_rate else 0,
  )
  return make_actor_critic_agent(
      "a2c",
      config,
      specs,
      optimizer,
      lambda loss_fn: actor_critic.make_learner(loss_fn, optimizer),
  )


def make_actor_critic_agent(
    name: str,
    config: ml_collections.ConfigDict,
    specs: types.EnvSpecs,
    optimizer: optax.GradientTransformation,
    make_learner: Callable[[Callable], tuple[Callable, Callable, Callable]],
    init_opt_state: (
        Callable[[chex.ArrayTree, chex.PRNGKey], chex.ArrayTree] | None
    ) = None,
) -> types.Agent:
  """The actor-critic network, acting and loss of this module, updated by
  `make_learner(loss_fn) -> (gradients, apply, learn)` (A2C: one averaged
  gradient; A3C, agents/a3c.py: one per actor, applied in turn).
  `init_opt_state(params, key)`: the optimizer state of a seed (default
  `optimizer.init(params)`)."""
  policy = policies.for_spec(specs.action)
  if isinstance(policy, policies.Categorical):
    network = networks.ActorCritic(
        num_actions=policy.num_actions,
        hidden_sizes=tuple(config.hidden_sizes),
        observation_rank=len(specs.observation.shape),
    )
  else:
    network = networks.GaussianActorCritic(
        action_size=policy.action_size,
        hidden_sizes=tuple(config.hidden_sizes),
        observation_rank=len(specs.observation.shape),
        shared_torso=config.get("shared_torso", False),
        min_variance=config.get("min_variance", 0.0),
    )

  def init(key, specs):
    params = network.init(key, jnp.zeros(specs.observation.shape, jnp.float32))
    opt_state = (
        optimizer.init(params)
        if init_opt_state is None
        else init_opt_state(params, key)
    )
    return A2CState(
        params=params, opt_state=opt_state, env_steps=jnp.zeros((), jnp.int32)
    )

  def actor_params(state: A2CState):
    return state.params

  def act(params, actor_state, timestep, key, evaluation: bool = False):
    policy_params, value = network.apply(params, timestep.observation)
    action, extras = policy.act(key, policy_params, evaluation)
    return action, actor_state, dict(value=value, **extras)

  reward_scale = config.get("reward_scale", 1.0)

  def loss_fn(params, trajectory: types.Trajectory, state):
    del state
    if reward_scale != 1.0:  # returns and values in units of c r
      timestep = trajectory.timestep
      trajectory = trajectory.replace(
          timestep=timestep.replace(reward=reward_scale * timestep.reward)
      )
    logits, values = network.apply(params, trajectory.timestep.observation)
    return actor_critic.actor_critic_loss(
        logits,
        values,
        trajectory,
        gamma=config.gamma,
        value_coef=config.value_coef,
        entropy_coef=config.entropy_coef,
        gae_lambda=config.get("gae_lambda", 1.0),
        policy=policy,
    )

  gradients, apply, learn = make_learner(loss_fn)

  return types.Agent(
      name=name,
      init=init,
      actor_params=actor_params,
      initial_actor_state=types.no_actor_state,
      act=act,
      learn=learn,
      gradients=gradients,
      apply=apply,
  )
