"""modules/models."""
