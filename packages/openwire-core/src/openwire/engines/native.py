"""The native engine: openwire's own RFC 6455 codec, registered like any plugin.

It goes through the same ``openwire`` entry point and hook as third-party
engines (``native = "openwire.engines.native"`` in openwire-core's
metadata), so the plugin path is exercised on every call.
"""

from __future__ import annotations

from openwire.engines.contract import ENGINE_API_VERSION, EngineCapabilities, EngineSettings
from openwire.engines.hookspecs import hookimpl
from openwire.protocol import deflate
from openwire.protocol.codec import DeflateFrameCodec, FrameCodec

__all__ = ["NativeEngine", "openwire_websocket_engines"]


class NativeEngine(deflate.DeflateNegotiation):
    """Pure-Python codec; runs on asyncio and trio; permessage-deflate (RFC 7692).

    Its connection is the core's fused codec, parser and rules in one loop
    (``protocol.codec``), which the core uses without a reader around it.
    """

    api_version = ENGINE_API_VERSION
    name = "native"
    capabilities = EngineCapabilities(extensions=(deflate.NAME,), backends=("asyncio", "trio"))

    def connect(self, settings: EngineSettings) -> FrameCodec:
        params = deflate.negotiate(settings.extensions, settings.compression)
        if params is None:
            return FrameCodec(settings.max_frame_size, settings.max_message_size)
        pmd = deflate.PerMessageDeflate(params, settings.max_message_size)
        return DeflateFrameCodec(settings.max_frame_size, settings.max_message_size, pmd)


@hookimpl
def openwire_websocket_engines() -> list[NativeEngine]:
    return [NativeEngine()]
