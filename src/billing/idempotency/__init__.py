"""Idempotency-Key handling for every POST (API.md)."""
