"""openwire engine adapter for aiohttp's WebSocket frame reader.

Installed, it registers the engine named ``aiohttp``; select it with
``Client(websocket_engine="aiohttp")``, ``engine="aiohttp"`` or
``OPENWIRE_WEBSOCKET_ENGINE=aiohttp``.
"""

from __future__ import annotations

from openwire_aiohttp.connection import AiohttpConnection
from openwire_aiohttp.plugin import AiohttpEngine

__all__ = ["AiohttpConnection", "AiohttpEngine"]
