"""modules/samplers."""
