"""Payment attempts against the gateway: at most one successful charge per invoice."""
