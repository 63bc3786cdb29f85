"""Registration of the ``aiohttp`` engine through the ``openwire`` entry point."""

from __future__ import annotations

from openwire.errors import InvalidExtension
from openwire.plugins.hookspecs import hookimpl
from openwire.websocket.engine import EngineCapabilities, EngineConnection, EngineSettings

from openwire_aiohttp.connection import AiohttpConnection

__all__ = ["AiohttpEngine", "openwire_websocket_engines"]


class AiohttpEngine:
    """aiohttp's C frame reader and masking behind the openwire engine contract.

    asyncio only: aiohttp is an asyncio library, and declaring it here lets
    the core refuse a trio call before it connects instead of failing later.
    No extensions are offered; the codec's RSV checks assume none.
    """

    name = "aiohttp"
    capabilities = EngineCapabilities(extensions=(), backends=("asyncio",))

    def extension_offers(self, compression: str | None) -> list[str]:
        return []

    def accept_extensions(self, accepted: list[str]) -> list[str]:
        if accepted:
            raise InvalidExtension(
                f"the server accepted extensions {accepted} but the aiohttp engine offers none"
            )
        return []

    def connect(self, settings: EngineSettings) -> EngineConnection:
        return AiohttpConnection(settings.max_frame_size, settings.max_message_size)


@hookimpl
def openwire_websocket_engines() -> list[AiohttpEngine]:
    return [AiohttpEngine()]
