"""Entry point module (``openwire`` group): makes ``engine="wsproto"`` selectable."""

from __future__ import annotations

from openwire.engines.hookspecs import hookimpl

from openwire_wsproto.engine import WsprotoEngine

__all__ = ["openwire_websocket_engines"]


@hookimpl
def openwire_websocket_engines() -> list[WsprotoEngine]:
    return [WsprotoEngine()]
