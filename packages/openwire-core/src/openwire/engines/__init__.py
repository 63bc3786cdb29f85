"""Engine plugins: the hook contract and the registry that loads them."""

from openwire.engines.hookspecs import hookimpl, hookspec
from openwire.engines.registry import EngineInfo, PluginFailure, registry

__all__ = ["EngineInfo", "PluginFailure", "hookimpl", "hookspec", "registry"]
