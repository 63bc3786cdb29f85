"""Re-export of :mod:`openwire.engines.hookspecs`, for engines written against this path."""

from openwire.engines.hookspecs import PROJECT, hookimpl, hookspec

__all__ = ["PROJECT", "hookimpl", "hookspec"]
