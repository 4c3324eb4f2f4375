"""Small shared building blocks: money, clock, ids, errors, pagination."""
