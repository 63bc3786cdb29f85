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

__all__ = ["Chunk", "Close", "EngineEvent", "Message", "Ping", "Pong"]


class Message(NamedTuple):
    """A complete data message: ``str`` for text, ``bytes`` for binary.

    This is also what :meth:`openwire.WebSocket.receive` returns: ``.data``
    and ``.opcode`` (``Opcode.TEXT`` or ``Opcode.BINARY``).
    """

    data: str | bytes
    opcode: Opcode

    @property
    def is_text(self) -> bool:
        """Whether this is a text message (``data`` is ``str``), not a binary one."""
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


class Chunk(NamedTuple):
    """A piece of a data message, handed out as it arrives (a connection with ``streaming=True``).

    ``data`` is ``str`` for a text message (UTF-8 already checked, a
    character split across pieces held back until it is complete) and
    ``bytes`` for a binary one; ``fin`` marks the message's last piece (its
    ``data`` may be empty). Messages never interleave, so the pieces up to a
    ``fin`` are one message. ``opcode`` is ``CONTINUATION`` for every piece,
    which is how the session tells a piece from a whole :class:`Message`.
    """

    data: str | bytes
    fin: bool
    opcode: Opcode = Opcode.CONTINUATION


EngineEvent = Message | Ping | Pong | Close | Chunk
