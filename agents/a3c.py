"""A3C: asynchronous advantage actor-critic, Mnih et al. 2016, "Asynchronous
methods for deep reinforcement learning" (ICML), Algorithm S3 of the
supplement.

Honestly: A3C and this lab's A2C (agents/a2c.py) are the same loss on the
same network. This module is the A3C configuration of that one loss and
network (`a2c.make_actor_critic_agent`, loss `lib.actor_critic.
actor_critic_loss`, neither copied), with what the paper adds:
  per-actor updates    each actor-learner's t_max-step gradient is applied
                       alone, in turn, through the shared RMSProp
                       (lib.async_updates; A2C averages all actors' gradients
                       into one step)
  shared RMSProp       g <- alpha g + (1 - alpha) dtheta^2,
                       theta <- theta - eta dtheta / sqrt(g + eps),
                       alpha = 0.99, g shared by all actors
                       (lib.shared_rmsprop)
  learning rate        eta_0 fixed or ~ LogUniform(1e-4, 1e-2) per seed,
                       annealed linearly to 0 over the run
  t_max = 5, entropy cost beta = 0.01, no gradient clipping.
Continuous actions (the paper's Section 5.4 and supplement, "Continuous
action control"): a bounded action spec [d] gives the Gaussian policy of
lib.policies (mean mu linear, variance sigma^2 softplus, per dimension;
policy and value on separate networks, as in the paper), chosen from the
spec by a2c.make_actor_critic_agent; actions u ~ N(mu, sigma^2) are clipped
to the bounds for the task, the loss uses log N(u; mu, sigma^2) of the
unclipped u and the entropy 1/2 (log(2 pi sigma^2) + 1) with beta = 1e-4
in the paper; greedy evaluation acts with mu. Not the paper's: the presets
(configs/a3c.py: pendulum, mountain_car_continuous) add a variance floor
(`min_variance`, sigma^2 = min_variance + softplus(.)), use gamma = 0.95,
beta = 1e-3 and rewards scaled by 0.1 in the loss (`reward_scale`) (README,
"Continuous A3C").
Algorithm S3 -> code, per actor and chunk of t_max steps:
  R = 0 for terminal s_t, V(s_t; theta_v) otherwise (chunk end, truncation)
  for i in t-1 .. t_start:  R <- r_i + gamma R
  dtheta  <- dtheta + grad log pi(a_i|s_i) (R - V(s_i)) + beta grad H(pi(s_i))
  dtheta_v <- dtheta_v + d (R - V(s_i))^2 / d theta_v
      -> actor_critic_loss with gae_lambda = 1: - log pi A - beta H
         + value_coef 1/2 (R - V)^2, averaged over the actor's valid steps
         (the paper sums them; under RMSProp's normalisation the scale
         matters only through eps). With several devices the per-actor
         average divides by that actor slot's valid steps summed over
         devices (the loss's psum), equal to the per-actor one when every
         chunk has the same number of valid steps.
"""

from __future__ import annotations

import ml_collections

from agents import a2c
from agents import types
from agents.lib import async_updates
from agents.lib import shared_rmsprop

ACTION_SPACES = ("discrete", "continuous")  # lib.policies.for_spec


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  per_actor = config.per_actor_updates
  optimizer = shared_rmsprop.from_config(
      config,
      async_updates.optimizer_steps(run, config.rollout_length, per_actor),
  )

  def init_opt_state(params, key):
    return optimizer.init(params)._replace(
        learning_rate=shared_rmsprop.initial_learning_rate(config, key)
    )

  def make_learner(loss_fn):
    return async_updates.make_learner(
        lambda params, state, trajectory, key: loss_fn(
            params, trajectory, state
        ),
        optimizer,
        per_actor=per_actor,
    )

  return a2c.make_actor_critic_agent(
      "a3c", config, specs, optimizer, make_learner, init_opt_state
  )
