"""The native engine: openwire's own RFC 6455 codec, registered like any plugin.

It goes through the same ``openwire`` entry point and hook as third-party
engines (``native = "openwire.websocket.native"`` in openwire-core's
metadata), so the plugin path is exercised on every call.
"""

from __future__ import annotations

from openwire.errors import InvalidExtension
from openwire.plugins.hookspecs import hookimpl
from openwire.websocket.codec import FrameCodec
from openwire.websocket.engine import EngineCapabilities, EngineConnection, EngineSettings

__all__ = ["NativeEngine", "openwire_websocket_engines"]


class NativeEngine:
    """Pure-Python codec; runs on asyncio and trio; no extensions."""

    name = "native"
    capabilities = EngineCapabilities(extensions=(), backends=("asyncio", "trio"))

    def extension_offers(self) -> list[str]:
        return []

    def accept_extensions(self, accepted: list[str]) -> list[str]:
        if accepted:
            raise InvalidExtension(
                f"the server accepted extensions {accepted} but the native engine offers none"
            )
        return []

    def connect(self, settings: EngineSettings) -> EngineConnection:
        return FrameCodec(settings.max_frame_size, settings.max_message_size)


@hookimpl
def openwire_websocket_engines() -> list[NativeEngine]:
    return [NativeEngine()]
