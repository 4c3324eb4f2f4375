"""Sandbox helpers: the simulated clock that drives a subscription's life in seconds."""
