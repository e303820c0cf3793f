"""Dyna-Q+: Sutton & Barto (2018), section 8.3 (Sutton 1990's exploration
bonus for changing environments).

Dyna-Q (`agents/dyna_q.py`) whose simulated backups carry a bonus for pairs
not tried for a long time:
  r + kappa sqrt(tau)     tau = time steps since (S, A) was last tried
                                        -> tabular.dyna_planning(kappa=...)
and, as the book's footnote to Figs. 8.4-8.5 says, planning may also pick
actions never tried from a visited state, modelled as leading back to the
same state with reward 0 (`all_actions=True`; the model's initial entries).
The bonus applies to planning only; the real-step backup is Q-learning's.
"""

from __future__ import annotations

import ml_collections

from agents import dyna_q
from agents import types
from agents.lib import tabular
from agents.runtime.errors import UserError


def make_agent(
    config: ml_collections.ConfigDict, specs: types.EnvSpecs, run: types.RunInfo
) -> types.Agent:
  del run  # no schedule over learn calls
  if not config.kappa >= 0:
    raise UserError(
        f"config.kappa={config.kappa!r} is not allowed: it must "
        "be a number >= 0"
    )
  update = dyna_q.dyna_update(
      config, name="dyna_q_plus", kappa=float(config.kappa), all_actions=True
  )
  return tabular.make_tabular_agent(
      config, specs, name="dyna_q_plus", update=update
  )
