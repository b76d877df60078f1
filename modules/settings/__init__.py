"""modules/settings."""
