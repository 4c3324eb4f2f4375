"""Plans: what a merchant sells, at what price and interval."""
