"""Pieces shared by several agents (each written once)."""
