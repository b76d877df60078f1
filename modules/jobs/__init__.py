"""modules/jobs."""
