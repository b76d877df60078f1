"""modules/images."""
