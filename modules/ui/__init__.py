"""modules/ui."""
