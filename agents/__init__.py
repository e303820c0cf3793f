"""Agents: learners and non-learning baselines as pure functions over pytrees."""

from agents.lib import cpu_threefry as _cpu_threefry

# Same random bits, faster on XLA:CPU (agents/lib/cpu_threefry.py).
_cpu_threefry.install()
