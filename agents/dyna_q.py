"""Dyna-Q: Sutton 1990, "Integrated architectures for learning, planning,
and reacting based on approximating dynamic programming"; Sutton & Barto
(2018), section 8.2 ("Tabular Dyna-Q" box).

For each real transition (S, A, R, S'):
  (d) Q(S,A) <- Q(S,A) + alpha [R + gamma max_a Q(S',a) - Q(S,A)]
                                        -> q_learning.direct_update (REAL)
  (e) Model(S,A) <- R, S'               -> tabular.update_model
  (f) n times: S, A <- a random previously observed pair; R, S' <- Model(S,A);
      the same backup on the simulated transition
                                        -> tabular.dyna_planning (PLANNING)
`planning_steps` is n (>= 1; n = 0 is `agents/q_learning.py`). Every backup is
logged event by event in the state's `log` (`tabular.EventLog`).
"""

from __future__ import annotations

import ml_collections

from agents import q_learning
from agents import types
from agents.lib import tabular


def dyna_update(
    config, *, name: str, kappa: float = 0.0, all_actions: bool = False
):
  """Steps (d)-(f); Dyna-Q+ passes its bonus kappa (section 8.3)."""
  tabular.check_positive(name, "planning_steps", config.planning_steps)
  direct = q_learning.direct_update(config)
  alpha, gamma = float(config.learning_rate), float(config.gamma)
  num_steps = int(config.planning_steps)

  def update(
      state: tabular.TabularState, transition: tabular.Transition, key
  ) -> tabular.TabularState:
    state = direct(state, transition, key)
    state = state.replace(
        model=tabular.update_model(state.model, transition, state.t)
    )
    # Planning happens only after a real step (not after an ignored action).
    return tabular.dyna_planning(
        state,
        key,
        num_steps=num_steps,
        alpha=alpha,
        gamma=gamma,
        kappa=kappa,
        all_actions=all_actions,
        valid=transition.valid,
    )

  return update


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  del run  # no schedule over learn calls
  return tabular.make_tabular_agent(
      config, specs, name="dyna_q", update=dyna_update(config, name="dyna_q")
  )
