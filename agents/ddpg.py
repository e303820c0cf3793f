"""DDPG: Lillicrap, Hunt, Pritzel, Heess, Erez, Tassa, Silver & Wierstra
2016, "Continuous control with deep reinforcement learning", ICLR (the
baseline NAF is compared with in Gu et al. 2016).

A deterministic actor mu(x | theta^mu) and a critic Q(x, u | theta^Q),
learned off-policy from replay (Algorithm 1):

  actor   mu(x) = low + (tanh(.) + 1)(high - low)/2, bounded to the action
          bounds (continuous.scale_to_bounds)            -> `DDPGNetwork.actor`
  critic  Q(x, u), x and u concatenated at the input    -> `DDPGNetwork.critic`
  critic target  y = r + gamma * discount * Q'(x', mu'(x'))   (target nets)
  critic loss    L(theta^Q) = E[ 1/2 (y - Q(x, u))^2 ] -> rlax.l2_loss, per
                 item, times replay's importance weights (`critic_loss`)
  actor gradient grad_theta^mu J = E[ grad_u Q(x, u)|u=mu(x)
                 grad_theta^mu mu(x) ], i.e. the gradient of the loss
                 -E[ Q(x, mu(x)) ] with the critic held fixed
                 (`actor_loss`; valid items, unweighted: the importance
                 weights correct the TD targets' sampling, Schaul et al.
                 2016)
  targets theta' <- tau theta + (1 - tau) theta' for actor and critic after
          every gradient step (soft updates, `target_update_tau`)
  exploration: mu(x) plus Ornstein-Uhlenbeck noise (the paper's; theta
          0.15, sigma 0.2) or Gaussian noise (agents/lib/continuous.py).

Both losses are differentiated in one pass over the parameter tree {actor,
critic}: the actor's term sees the critic through stop_gradient and the
critic's term does not depend on the online actor, so each part gets exactly
its own gradient. Adam with the paper's two learning rates (actor
`actor_learning_rate`, critic `learning_rate`) via optax.multi_transform
(`make_optimizer`).
One difference from the paper's Algorithm 1: the actor's gradient is taken
at the critic of the step's start, not after the critic's update of the
same step (the two updates are simultaneous, as in most JAX
implementations). The critic's L2 weight decay (1e-2) and batch
normalisation are left out (as for NAF, agents/naf.py).

Replay (any kind: the critic's |y - Q| is the priority handed back), the
gradient steps, soft targets and exploration are the shared value-based
learner of agents/lib/value_based.py, as for NAF.
"""

from __future__ import annotations

from typing import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
import rlax

from agents import types
from agents.lib import continuous
from agents.lib import networks
from agents.lib import optimizers
from agents.lib import value_based

ACTION_SPACES = ("continuous",)

# The paper's final-layer initialisation, U(-3e-3, 3e-3): mu and Q start
# near zero (and tanh far from saturation).
_FINAL_INIT = nn.initializers.uniform(6e-3)


def _final_init(key, shape, dtype=jnp.float32):
  return _FINAL_INIT(key, shape, dtype) - 3e-3


class Actor(nn.Module):
  low: Sequence[float]
  high: Sequence[float]
  hidden_sizes: Sequence[int]
  observation_rank: int = 1

  @nn.compact
  def __call__(self, observation: chex.Array) -> chex.Array:
    x = networks.flatten_observation(observation, self.observation_rank)
    x = networks.MLP(self.hidden_sizes)(x)
    unit = jnp.tanh(nn.Dense(len(self.low), kernel_init=_final_init)(x))
    return continuous.scale_to_bounds(
        unit, jnp.asarray(self.low), jnp.asarray(self.high)
    )


class Critic(nn.Module):
  hidden_sizes: Sequence[int]
  observation_rank: int = 1

  @nn.compact
  def __call__(self, observation: chex.Array, action: chex.Array):
    x = networks.flatten_observation(observation, self.observation_rank)
    x = jnp.concatenate([x, action.astype(jnp.float32)], axis=-1)
    x = networks.MLP(self.hidden_sizes)(x)
    return jnp.squeeze(nn.Dense(1, kernel_init=_final_init)(x), -1)


class DDPGNetwork(nn.Module):
  """Actor and critic in one parameter tree {actor, critic}; calling it
  gives Q(x, mu(x))."""

  low: Sequence[float]
  high: Sequence[float]
  hidden_sizes: Sequence[int]
  observation_rank: int = 1

  def setup(self):
    self.actor = Actor(
        self.low, self.high, self.hidden_sizes, self.observation_rank
    )
    self.critic = Critic(self.hidden_sizes, self.observation_rank)

  def __call__(self, observation: chex.Array) -> chex.Array:
    return self.critic(observation, self.actor(observation))

  def q_value(self, observation: chex.Array, action: chex.Array):
    return self.critic(observation, action)

  def policy(self, observation: chex.Array) -> chex.Array:
    return self.actor(observation)


def make_network(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs
) -> DDPGNetwork:
  low, high = continuous.action_bounds(specs.action)
  return DDPGNetwork(
      low=tuple(float(v) for v in low),
      high=tuple(float(v) for v in high),
      hidden_sizes=tuple(config.hidden_sizes),
      observation_rank=len(specs.observation.shape),
  )


def policy(network: DDPGNetwork, params, observation: chex.Array):
  """The greedy (deterministic) action mu(x)."""
  return network.apply(params, observation, method=DDPGNetwork.policy)


def q_value(network: DDPGNetwork, params, observation, action):
  """The critic's Q(x, u)."""
  return network.apply(params, observation, action, method=DDPGNetwork.q_value)


def critic_loss(
    network: DDPGNetwork,
    params,
    target_params,
    batch,
    reward_scale: float = 1.0,
):
  """Per item: (1/2 (y - Q(x, u))^2, |y - Q(x, u)|) with y = c r + gamma *
  discount * Q'(x', mu'(x')) (batch["discount"] holds gamma * discount; c =
  `reward_scale`)."""
  q_tm1 = q_value(network, params, batch["observation"], batch["action"])
  q_t = network.apply(target_params, batch["next_observation"])
  target = reward_scale * batch["reward"] + batch["discount"] * q_t
  target = jax.lax.stop_gradient(target)
  td_error = target - q_tm1
  return rlax.l2_loss(td_error), jnp.abs(td_error)


def actor_loss(network: DDPGNetwork, params, batch) -> chex.Array:
  """-mean over valid items of Q(x, mu(x)), the critic held fixed."""
  inner = params["params"]
  frozen = {
      "params": dict(
          actor=inner["actor"],
          critic=jax.lax.stop_gradient(inner["critic"]),
      )
  }
  q = network.apply(frozen, batch["observation"])
  valid = batch["valid"]
  return -jnp.sum(valid * q) / jnp.maximum(jnp.sum(valid), 1.0)


def make_optimizer(
    config, run: types.RunInfo | None = None
) -> optax.GradientTransformation:
  """`config.optimizer` (Adam) on the actor at `actor_learning_rate` and on
  the critic at `learning_rate`, each with `max_grad_norm` clipping of its
  own gradient and, with `anneal_learning_rate`, linear decay to 0 over the
  run (`run`)."""
  anneal = (
      0 if run is None else value_based.learning_rate_anneal_steps(config, run)
  )

  def part(rate):
    return optimizers.make_optimizer(
        config.optimizer,
        rate,
        max_grad_norm=config.max_grad_norm,
        anneal_steps=anneal,
    )

  def labels(params):
    return {
        "params": {
            part: jax.tree.map(lambda _, p=part: p, tree)
            for part, tree in params["params"].items()
        }
    }

  return optax.multi_transform(
      dict(
          actor=part(config.actor_learning_rate),
          critic=part(config.learning_rate),
      ),
      labels,
  )


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  network = make_network(config, specs)

  def loss(params, target_params, batch, key):
    del key
    per_item, priorities = critic_loss(
        network, params, target_params, batch, config.reward_scale
    )
    return per_item, priorities, {}

  def objective(params, target_params, sample, key):
    critic, (priorities, metrics) = value_based.weighted_loss(
        loss, params, target_params, sample, key
    )
    actor = actor_loss(network, params, sample.items)
    metrics = dict(metrics, critic_loss=critic, actor_loss=actor)
    return critic + actor, (priorities, metrics)

  acting = value_based.continuous_acting_from_config(
      lambda params, observation: policy(network, params, observation),
      config,
      specs.action,
  )
  return value_based.make_from_config(
      config,
      specs=specs,
      run=run,
      name="ddpg",
      network=network,
      loss=loss,
      acting=acting,
      optimizer=make_optimizer(config, run),
      objective=objective,
  )
