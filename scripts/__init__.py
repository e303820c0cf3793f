"""Thin absl programs: flags and wiring only."""
