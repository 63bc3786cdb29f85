"""Former home of the engine plugin machinery, kept so existing imports work.

The hook contract and the registry live in :mod:`openwire.engines`.
"""

from openwire.engines import EngineInfo, PluginFailure, hookimpl, hookspec, registry

__all__ = ["EngineInfo", "PluginFailure", "hookimpl", "hookspec", "registry"]
