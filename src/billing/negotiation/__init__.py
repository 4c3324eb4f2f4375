"""Renegotiation: agreements that consolidate overdue installments into new ones."""
