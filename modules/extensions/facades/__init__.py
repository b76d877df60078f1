"""A1111's module names, as thin facades over this app's objects, for extension code only.

Extension files are executed with an `__import__` that answers `modules.<name>` with these
facades (see `importer.py`); our own `modules` package is never visible to them. One set of
facade modules is built per extension (so `scripts.basedir()` and callback owners know which
extension they serve), all bound to the one Runtime.
"""
