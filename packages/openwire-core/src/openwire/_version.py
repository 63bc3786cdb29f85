"""The single place the package version lives (read by the User-Agent too)."""

__version__ = "0.1.0"
