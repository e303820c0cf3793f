"""Agents: learners and non-learning baselines as pure functions over pytrees."""
