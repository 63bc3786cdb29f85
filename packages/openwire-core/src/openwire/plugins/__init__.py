"""Engine plugins: the hook contract and the registry that loads them."""

from openwire.plugins.hookspecs import hookimpl, hookspec
from openwire.plugins.registry import EngineInfo, PluginFailure, registry

__all__ = ["EngineInfo", "PluginFailure", "hookimpl", "hookspec", "registry"]
