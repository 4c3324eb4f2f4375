"""The merchant's event log; outgoing webhooks are built on it."""
