"""Invoices (installments): numbering, lines, statuses, settlement."""
