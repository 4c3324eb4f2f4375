"""Recurring billing and collections, Brazil first."""
