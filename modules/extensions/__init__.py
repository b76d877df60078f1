"""Extensions: the `extensions/` folders, their loading, installing and the A1111 facades.

See docs/EXTENSIONS.md. `host.ExtensionHost` is the one object per Runtime that owns them.
"""
