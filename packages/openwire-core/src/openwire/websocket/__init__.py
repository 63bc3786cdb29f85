"""WebSockets over the openwire client: the call, the session and the handles.

Module map (read in this order):

- ``options``    the knobs of a call and their defaults
- ``call``       ``client.new_websocket(...)`` and ``execute()``
- ``session``    every runtime decision: queues, heartbeat, close, events
- ``connection`` the WebSocket handle and its sender/receiver halves
- ``reconnect``  the reconnecting loop and its policy

The protocol rules (frames, header gate, codec, permessage-deflate, the
opening handshake) are in :mod:`openwire.protocol`; the engine contract, its
hooks and the native engine in :mod:`openwire.engines`; channels and the
runtime in :mod:`openwire.io`. ``openwire.websocket.engine``, ``.codec``,
``.frames`` and ``.deflate`` re-export their new homes for existing imports.
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
from openwire.websocket.connection import (
    Decode,
    MessageStream,
    WebSocket,
    WebSocketReceiver,
    WebSocketSender,
)
from openwire.websocket.options import WebSocketOptions
from openwire.websocket.reconnect import RETRY_CODES, OnConnect, retry_after
from openwire.websocket.session import State, StreamChunk

__all__ = [
    "RETRY_CODES",
    "Close",
    "CloseCode",
    "Decode",
    "EngineCapabilities",
    "EngineConnection",
    "EngineSettings",
    "Message",
    "MessageStream",
    "OnConnect",
    "Opcode",
    "Ping",
    "Pong",
    "State",
    "StreamChunk",
    "WebSocket",
    "WebSocketCall",
    "WebSocketEngine",
    "WebSocketOptions",
    "WebSocketReceiver",
    "WebSocketSender",
    "retry_after",
]
