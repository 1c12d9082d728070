"""The version of ebmlib: the newest release in CHANGELOG.md (one source of truth)."""

__version__ = "0.2.0"
