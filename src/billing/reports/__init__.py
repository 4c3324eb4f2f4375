"""Merchant reports: aggregate SQL, JSON or CSV."""
