"""Dunning: retrying failed payments on a schedule."""
