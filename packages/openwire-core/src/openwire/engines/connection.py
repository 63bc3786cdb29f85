"""Opening an engine's connection: the engine's frame codec behind the core's reader.

Rules of this module: the one place where an engine's connection meets the
rules. The call (``websocket/call.py``) asks for a connection here and hands
what it gets to the session, so every engine, the native one included, is
driven through the same :class:`~openwire.engines.contract.MessageCodec`
surface, and permessage-deflate is negotiated and wired the same way for
all of them.
"""

from __future__ import annotations

from openwire.engines.contract import (
    EngineSettings,
    MessageCodec,
    WebSocketEngine,
)
from openwire.protocol import deflate
from openwire.protocol.codec import FrameCodec
from openwire.protocol.reader import DeflateFrameReader, FrameReader

__all__ = ["open_engine_connection"]


def open_engine_connection(engine: WebSocketEngine, settings: EngineSettings) -> MessageCodec:
    """The codec the session drives for one upgraded connection.

    The server's extension answer is checked against the call's offer
    (``settings.compression``) first: :class:`~openwire.errors.InvalidExtension`
    for one the rules refuse, before the engine is asked for anything.
    The engine's frame codec then goes behind a :class:`FrameReader` (a
    :class:`DeflateFrameReader` when the server accepted permessage-deflate,
    bounded by ``settings.max_message_size`` and compressing by the agreed
    parameters). The core's own fused codec, which the native engine
    returns, already applies the same rules and is used as it is. No zlib
    state is allocated here, on any engine: ``PerMessageDeflate`` creates its
    compressor and decompressor on first use.
    """
    params = deflate.negotiate(settings.extensions, settings.compression)
    conn = engine.connect(settings)
    if isinstance(conn, FrameCodec):
        return conn
    if params is None:
        return FrameReader(conn, settings.max_frame_size, settings.max_message_size)
    pmd = deflate.PerMessageDeflate(params, settings.max_message_size)
    return DeflateFrameReader(conn, settings.max_frame_size, settings.max_message_size, pmd)
