"""modules/api."""
