"""The plugin contract: every hook an openwire plugin may implement.

A plugin is a module named by an entry point in the ``openwire`` group::

    [project.entry-points.openwire]
    myengine = "my_package.plugin"

and the module implements hooks with :data:`hookimpl`::

    from openwire.engines import hookimpl

    @hookimpl
    def openwire_websocket_engines():
        return [MyEngine()]

Plugins are loaded lazily, the first time an engine is looked up, and each one
in isolation: a plugin that fails to import or whose hook raises is reported
(``openwire engines`` lists it) and the others keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from openwire.engines.contract import WebSocketEngine

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "openwire"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def openwire_websocket_engines() -> list[WebSocketEngine]:  # type: ignore[empty-body]
    """Return the WebSocket engines this plugin provides.

    Each engine implements :class:`openwire.engines.contract.WebSocketEngine`
    and has a unique ``name``: the name users select it by (``engine="..."``,
    ``Client(websocket_engine=...)`` or ``OPENWIRE_WEBSOCKET_ENGINE``). Two
    plugins providing the same name make that name unusable until one is
    uninstalled (:class:`~openwire.errors.PluginConflict`). Keep this hook
    cheap: it runs once per process, at first use.
    """
