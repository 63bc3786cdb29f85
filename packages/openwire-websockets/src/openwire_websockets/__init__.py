"""openwire's websockets engine; select it with ``engine="websockets"``."""

from __future__ import annotations

from openwire_websockets.engine import WebsocketsConnection, WebsocketsEngine

__all__ = ["WebsocketsConnection", "WebsocketsEngine"]
