"""Webhooks: incoming gateway events and our signed outgoing merchant deliveries."""
