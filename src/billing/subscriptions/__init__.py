"""Subscriptions: lifecycle, billing periods and plan changes."""
