"""modules/text."""
