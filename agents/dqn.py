"""DQN: Mnih et al. 2015, "Human-level control through deep reinforcement
learning", Nature 518.

Loss (Methods, eq. 2; Algorithm 1):
  y = r + gamma * discount * max_a' Q(s', a'; theta^-)        -> rlax.q_learning
  L(theta) = E_{(s,a,r,s') ~ U(D)} [ huber(y - Q(s, a; theta)) ]
             (the paper clips the TD error to [-1, 1], i.e. a Huber loss with
             delta 1)                                           -> rlax.huber_loss
With `double_q=True` the target uses Double DQN's decoupled argmax (van Hasselt
et al. 2016)                                                    -> rlax.double_q_learning

Replay D, the target network theta^- (copied every `target_update_period`
updates) and epsilon-greedy acting are the shared value-based learner in
`agents/lib/value_based.py`; this file holds only the network and the loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import rlax

from agents import types
from agents.lib import networks
from agents.lib import value_based


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  network = networks.QNetwork(
      num_actions=int(specs.action.num_values),
      hidden_sizes=tuple(config.hidden_sizes),
      observation_rank=len(specs.observation.shape),
  )

  def action_values(params, observation, key):
    del key
    return network.apply(params, observation)

  def loss(params, target_params, batch, key):
    del key
    q_tm1 = network.apply(params, batch["observation"])
    q_t_target = network.apply(target_params, batch["next_observation"])
    if config.double_q:
      q_t_online = network.apply(params, batch["next_observation"])
      td_error = jax.vmap(rlax.double_q_learning)(
          q_tm1,
          batch["action"],
          batch["reward"],
          batch["discount"],
          q_t_target,
          q_t_online,
      )
    else:
      td_error = jax.vmap(rlax.q_learning)(
          q_tm1, batch["action"], batch["reward"], batch["discount"], q_t_target
      )
    # priority for prioritized replay: |delta| (Schaul et al. 2016)
    return (
        rlax.huber_loss(td_error, config.huber_delta),
        jnp.abs(td_error),
        {},
    )

  return value_based.make_from_config(
      config,
      specs=specs,
      run=run,
      name="dqn",
      network=network,
      action_values=action_values,
      loss=loss,
  )
