"""Restore faces after generation (A1111's `restore_faces` and the "Restore faces" setting)."""
