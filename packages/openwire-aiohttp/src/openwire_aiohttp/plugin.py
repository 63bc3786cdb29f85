"""Registration of the ``aiohttp`` engine through the ``openwire`` entry point."""

from __future__ import annotations

from openwire.engines.contract import ENGINE_API_VERSION, EngineCapabilities, EngineSettings
from openwire.engines.hookspecs import hookimpl
from openwire.protocol import deflate

from openwire_aiohttp.connection import AiohttpConnection

__all__ = ["AiohttpEngine", "openwire_websocket_engines"]


class AiohttpEngine(deflate.DeflateNegotiation):
    """aiohttp's C frame reader and masking behind the openwire engine contract.

    asyncio only: aiohttp is an asyncio library, and declaring it here lets
    the core refuse a trio call before it connects instead of failing later.
    permessage-deflate (RFC 7692) is the core's: negotiated by the same rules
    as every engine, inflated and compressed by the core's reader.
    """

    api_version = ENGINE_API_VERSION
    name = "aiohttp"
    capabilities = EngineCapabilities(extensions=(deflate.NAME,), backends=("asyncio",))

    def connect(self, settings: EngineSettings) -> AiohttpConnection:
        """A connection for one WebSocket (asyncio only; the registry refuses trio first)."""
        return AiohttpConnection()


@hookimpl
def openwire_websocket_engines() -> list[AiohttpEngine]:
    return [AiohttpEngine()]
