"""Analyses that turn recordings and agent runs into the papers' figures and numbers."""
