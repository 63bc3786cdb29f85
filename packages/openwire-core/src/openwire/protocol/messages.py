"""What a WebSocket connection reports: messages and control frames, as small immutable tuples.

These are the events the receive side of every engine ends in, whichever
library parsed the frames: the core's reader (``protocol.reader``) and the
native codec (``protocol.codec``) both produce them, and the session
(``websocket.session``) consumes nothing else. They live with the rules, not
with the engine contract, so the pure protocol package depends on nothing
above it; :mod:`openwire.engines.contract` re-exports them.
"""

from __future__ import annotations

from typing import NamedTuple

from openwire.protocol.frames import Opcode

__all__ = ["Close", "EngineEvent", "Message", "Ping", "Pong"]


class Message(NamedTuple):
    """A complete data message: ``str`` for text, ``bytes`` for binary.

    This is also what :meth:`openwire.WebSocket.receive` returns: ``.data``
    and ``.opcode`` (``Opcode.TEXT`` or ``Opcode.BINARY``).
    """

    data: str | bytes
    opcode: Opcode

    @property
    def is_text(self) -> bool:
        return self.opcode == Opcode.TEXT

    @property
    def text(self) -> str:
        """The text of a text message; raises ``TypeError`` for binary."""
        if isinstance(self.data, str):
            return self.data
        raise TypeError("this is a binary message; use .data (bytes)")


class Ping(NamedTuple):
    data: bytes
    opcode: Opcode = Opcode.PING


class Pong(NamedTuple):
    data: bytes
    opcode: Opcode = Opcode.PONG


class Close(NamedTuple):
    """The peer's Close frame with its raw, *unvalidated* payload.

    The session, not the parser, applies RFC 6455 §5.5.1 and §7.4 to the
    code and reason, so every engine reports a bad close payload the same way.
    """

    data: bytes
    opcode: Opcode = Opcode.CLOSE


EngineEvent = Message | Ping | Pong | Close
