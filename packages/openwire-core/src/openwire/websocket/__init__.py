"""WebSockets over the openwire client.

Module map (read in this order):

- ``options``    the knobs of a call and their defaults
- ``handshake``  the opening handshake: offer and validation (RFC 6455 §4)
- ``frames``     opcodes, close codes, close-payload rules (§5, §7.4)
- ``engine``     the WebSocketEngine contract between the core and engines
- ``codec``      the native engine's sans-I/O frame codec; ``masking`` (§5.3)
- ``deflate``    permessage-deflate (RFC 7692): offer, parameters, bounded inflate
- ``native``     the native engine, registered as a plugin
- ``session``    every runtime decision: queues, heartbeat, close, events
- ``transport``  moving bytes between the socket and the session
- ``runtime``    detached tasks, timers and waiters for asyncio and trio
- ``connection`` the WebSocket handle and its sender/receiver halves
- ``call``       ``client.new_websocket(...)`` and ``execute()``
"""

from openwire.engines.contract import (
    Close,
    EngineCapabilities,
    EngineConnection,
    EngineSettings,
    Message,
    Ping,
    Pong,
    WebSocketEngine,
)
from openwire.protocol.frames import CloseCode, Opcode
from openwire.websocket.call import WebSocketCall
from openwire.websocket.connection import WebSocket, WebSocketReceiver, WebSocketSender
from openwire.websocket.options import WebSocketOptions
from openwire.websocket.session import State

__all__ = [
    "Close",
    "CloseCode",
    "EngineCapabilities",
    "EngineConnection",
    "EngineSettings",
    "Message",
    "Opcode",
    "Ping",
    "Pong",
    "State",
    "WebSocket",
    "WebSocketCall",
    "WebSocketEngine",
    "WebSocketOptions",
    "WebSocketReceiver",
    "WebSocketSender",
]
