"""Switching models between passes: the refiner feature and the Runtime's checkpoint switcher."""
