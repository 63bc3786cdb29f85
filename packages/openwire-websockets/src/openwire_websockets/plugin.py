"""Entry point module (``openwire`` group): makes ``engine="websockets"`` selectable."""

from __future__ import annotations

from openwire.engines.hookspecs import hookimpl

from openwire_websockets.engine import WebsocketsEngine

__all__ = ["openwire_websocket_engines"]


@hookimpl
def openwire_websocket_engines() -> list[WebsocketsEngine]:
    return [WebsocketsEngine()]
