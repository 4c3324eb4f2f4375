"""Fixtures for gateway tests (``localstripe_url`` lives in tests/fixtures_stripe.py)."""

from tests.fixtures_stripe import localstripe_url

__all__ = ["localstripe_url"]
