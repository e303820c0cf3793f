"""Agent names used in configs (`config.agent`), mapped to their builders.

To add an agent: write `agents/<name>.py` with `make_agent(config, specs,
run: types.RunInfo) -> types.Agent` (and `ACTION_SPACES = ("continuous",)` if it is not a
discrete-action agent), a config `configs/<name>.py`, and one line here.
"""

from __future__ import annotations

import importlib

AGENTS = {
    "dqn": "agents.dqn",
    "a2c": "agents.a2c",
    "qr_dqn": "agents.qr_dqn",
    "iqn": "agents.iqn",
    "er_dqn": "agents.er_dqn",
    "meta_a2c": "agents.meta_a2c",
    # Tabular agents (Sutton & Barto ch. 6, 8): grid worlds with state indices.
    "q_learning": "agents.q_learning",
    "dyna_q": "agents.dyna_q",
    "dyna_q_plus": "agents.dyna_q_plus",
    "prioritized_sweeping": "agents.prioritized_sweeping",
    "r2d2": "agents.r2d2",
    "mattar_daw": "agents.mattar_daw",  # Mattar & Daw 2018, gain x need
    "one_step_q": "agents.one_step_q",
    "one_step_sarsa": "agents.one_step_sarsa",
    "n_step_q": "agents.n_step_q",
    "a3c": "agents.a3c",
    "naf": "agents.naf",  # Gu et al. 2016, continuous actions
    "ddpg": "agents.ddpg",  # Lillicrap et al. 2016, continuous actions
}


def get_builder(name: str):
  if name not in AGENTS:
    raise KeyError(name)
  return importlib.import_module(AGENTS[name]).make_agent


def action_spaces(name: str) -> tuple[str, ...]:
  """The action spaces ("discrete", "continuous") an agent module declares."""
  return getattr(
      importlib.import_module(AGENTS[name]), "ACTION_SPACES", ("discrete",)
  )
