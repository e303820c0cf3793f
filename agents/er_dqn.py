"""ER-DQN: Rowland, Dadashi, Kumar, Munos, Bellemare & Dabney 2019,
"Statistics and samples in distributional reinforcement learning", ICML.

The network emits N expectiles e_1..e_N (s, a) of the return of every action
at tau_i = (i + 0.5) / N (`distributional.midpoint_taus`), N =
`num_expectiles`, odd, so the middle one is tau = 1/2, whose expectile is the
mean:

  Q(s, a)  = e_{tau=1/2}(s, a)                                -> `action_values`
  a*       = argmax_a Q(s', a) of the target network (online with `double_q`)
  z_1..z_N = Impute(tau, e(s', a*; theta^-))   (Section 5 and Algorithm 1's
             "imputation strategy": samples whose expectiles are the target
             expectiles)                      -> `expectiles.impute_samples`
  T z_j    = r + gamma * discount * z_j                           (Algorithm 1)
  loss     = sum_i (1/N) sum_j |tau_i - 1{T z_j < e_i(s, a)}| (T z_j - e_i(s, a))^2
             (expectile regression, eq. 6)
                                 -> `distributional.expectile_regression_loss`

Why impute: expectiles are statistics, not samples; backing up the
expectiles themselves (r + gamma e_i) and regressing onto them as if they
were samples would shrink the distribution towards its mean every step
(Rowland et al. Section 4, "the naive approach"). Imputation (here a few
Levenberg-Marquardt steps per transition, vmapped, from the target
expectiles; see `agents/lib/expectiles.py`) keeps the Bellman update exact
for the statistics.

Replay, target network, epsilon-greedy acting and importance weights are the
shared learner in `agents/lib/value_based.py`; the network is QR-DQN's
`networks.DistributionalQNetwork` (N statistics per action).
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import ml_collections

from agents import types
from agents.lib import distributional
from agents.lib import expectiles
from agents.lib import networks
from agents.lib import value_based

# Levenberg-Marquardt steps of the imputation `return_distribution` runs
# (training runs `num_imputation_steps`; a one-off read-out can afford more).
RETURN_DISTRIBUTION_IMPUTATION_STEPS = 100


def make_network(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs
) -> networks.DistributionalQNetwork:
  if config.num_expectiles % 2 != 1:
    raise ValueError(
        f"config.num_expectiles={config.num_expectiles} must be odd: ER-DQN "
        "acts on the tau = 1/2 expectile (the mean), the middle of the taus "
        "(i + 0.5) / N"
    )
  return networks.DistributionalQNetwork(
      num_actions=int(specs.action.num_values),
      num_statistics=int(config.num_expectiles),
      hidden_sizes=tuple(config.hidden_sizes),
      observation_rank=len(specs.observation.shape),
  )


def mean_of_expectiles(dist_q: chex.Array) -> chex.Array:
  """[..., N, A] expectiles at `midpoint_taus(N)` -> the mean [..., A]."""
  return dist_q[..., dist_q.shape[-2] // 2, :]


def expectile_q_learning(
    dist_q_tm1,
    taus,
    a_tm1,
    r_t,
    discount_t,
    dist_q_t_selector,
    dist_q_t,
    num_imputation_steps,
):
  """ER-DQN's loss for one transition (the rlax quantile_q_learning layout)."""
  chex.assert_rank(
      [dist_q_tm1, taus, a_tm1, r_t, discount_t, dist_q_t_selector, dist_q_t],
      [2, 1, 0, 0, 0, 2, 2],
  )
  a_t = jnp.argmax(mean_of_expectiles(dist_q_t_selector))
  samples_t = expectiles.impute_samples(
      taus, dist_q_t[:, a_t], num_imputation_steps
  )
  target_samples = jax.lax.stop_gradient(r_t + discount_t * samples_t)
  return distributional.expectile_regression_loss(
      dist_q_tm1[:, a_tm1], taus, target_samples
  )


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  network = make_network(config, specs)
  taus = distributional.midpoint_taus(config.num_expectiles)

  def action_values(params, observation, key):
    del key
    return mean_of_expectiles(network.apply(params, observation))

  loss = value_based.fixed_statistics_loss(
      network,
      expectile_q_learning,
      taus,
      config.num_imputation_steps,
      config.double_q,
  )

  def return_distribution(params, observation):
    dist = network.apply(params, observation)  # [N, num_actions]
    greedy = jnp.argmax(mean_of_expectiles(dist))
    samples = expectiles.impute_samples(
        taus, dist[:, greedy], num_steps=RETURN_DISTRIBUTION_IMPUTATION_STEPS
    )
    return distributional.equally_weighted(samples)

  agent = value_based.make_from_config(
      config,
      specs=specs,
      run=run,
      name="er_dqn",
      network=network,
      action_values=action_values,
      loss=loss,
  )
  return dataclasses.replace(agent, return_distribution=return_distribution)
