"""Agent names used in configs (`config.agent`), mapped to their builders.

To add an agent: write `agents/<name>.py` with `make_agent(config, specs) ->
types.Agent`, a config `configs/<name>.py`, and one line here.
"""

from __future__ import annotations

import importlib

AGENTS = {
    "dqn": "agents.dqn",
    "a2c": "agents.a2c",
}


def get_builder(name: str):
  if name not in AGENTS:
    raise KeyError(name)
  return importlib.import_module(AGENTS[name]).make_agent
