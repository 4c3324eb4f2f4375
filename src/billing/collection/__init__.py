"""Collection: the reminder ruler, quiet hours and contact caps."""
