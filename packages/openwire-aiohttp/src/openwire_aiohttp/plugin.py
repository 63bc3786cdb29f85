"""Registration of the ``aiohttp`` engine through the ``openwire`` entry point."""

from __future__ import annotations

from openwire.engines.contract import EngineCapabilities, EngineConnection, EngineSettings
from openwire.engines.hookspecs import hookimpl
from openwire.protocol import deflate

from openwire_aiohttp.connection import AiohttpConnection, AiohttpDeflateConnection

__all__ = ["AiohttpEngine", "openwire_websocket_engines"]


class AiohttpEngine(deflate.DeflateNegotiation):
    """aiohttp's C frame reader and masking behind the openwire engine contract.

    asyncio only: aiohttp is an asyncio library, and declaring it here lets
    the core refuse a trio call before it connects instead of failing later.
    permessage-deflate (RFC 7692) is negotiated by the core's rules, so both
    engines accept and refuse the same server answers.
    """

    name = "aiohttp"
    capabilities = EngineCapabilities(extensions=(deflate.NAME,), backends=("asyncio",))
    conformance_xfail = {
        "test_invalid_utf8_fails_while_a_single_frame_is_still_arriving": (
            "the library parses whole frames, so UTF-8 is checked only once a frame has "
            "arrived; fail-fast validation of a frame in progress belongs in the shared core"
        ),
    }

    def connect(self, settings: EngineSettings) -> EngineConnection:
        params = deflate.negotiate(settings.extensions)
        if params is None:
            return AiohttpConnection(settings.max_frame_size, settings.max_message_size)
        pmd = deflate.PerMessageDeflate(params, settings.max_message_size)
        return AiohttpDeflateConnection(settings.max_frame_size, settings.max_message_size, pmd)


@hookimpl
def openwire_websocket_engines() -> list[AiohttpEngine]:
    return [AiohttpEngine()]
