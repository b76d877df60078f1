"""modules/training."""
