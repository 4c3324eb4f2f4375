"""The self-service payer portal: server-rendered pages, pt-BR and en (issue 7)."""
