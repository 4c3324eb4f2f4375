"""Merchants, their API keys and their profile."""
