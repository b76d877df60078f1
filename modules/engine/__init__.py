"""modules/engine."""
