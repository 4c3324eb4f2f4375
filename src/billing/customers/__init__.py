"""Customers: records, tax documents (CPF/CNPJ) and their validation."""
