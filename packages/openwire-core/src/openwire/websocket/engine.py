"""Re-export of :mod:`openwire.engines.contract`, the engine contract's former path."""

from openwire.engines.contract import (
    Close,
    EngineCapabilities,
    EngineConnection,
    EngineEvent,
    EngineSettings,
    Message,
    Ping,
    Pong,
    WebSocketEngine,
)

__all__ = [
    "Close",
    "EngineCapabilities",
    "EngineConnection",
    "EngineEvent",
    "EngineSettings",
    "Message",
    "Ping",
    "Pong",
    "WebSocketEngine",
]
