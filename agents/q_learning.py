"""Tabular Q-learning: Watkins 1989; Sutton & Barto (2018), section 6.5.

For each real transition (S, A, R, S'):
  Q(S,A) <- Q(S,A) + alpha [R + gamma max_a Q(S',a) - Q(S,A)]   (eq. 6.8)
                                                -> tabular.backup (kind REAL)
with the bootstrap cut (discount 0) when S' is terminal. Acting is
epsilon-greedy with random tie-breaking. This is Dyna-Q with n = 0 planning
steps (Fig. 8.2's "0 planning steps (direct RL only)" curve); the shared
pieces are in `agents/lib/tabular.py`.
"""

from __future__ import annotations

import ml_collections

from agents import types
from agents.lib import tabular


def direct_update(config):
  """The real-experience backup every tabular agent but sweeping shares."""
  alpha, gamma = float(config.learning_rate), float(config.gamma)

  def update(
      state: tabular.TabularState, transition: tabular.Transition, key
  ) -> tabular.TabularState:
    del key
    return tabular.backup(
        state,
        transition.state,
        transition.action,
        transition.reward,
        transition.discount,
        transition.next_state,
        alpha=alpha,
        gamma=gamma,
        kind=tabular.REAL,
        valid=transition.valid,
    )

  return update


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  del run  # no schedule over learn calls
  return tabular.make_tabular_agent(
      config, specs, name="q_learning", update=direct_update(config)
  )
