"""The typed hand-over of a connection from HTTP to the WebSocket.

Rules of this module: after a ``101`` the connection leaves the HTTP layer
through exactly one door, :meth:`Upgraded.detach`, and arrives as one value,
:class:`Detached`; no string keys, no duck typing. Its stream is only a
:class:`ByteStream`, so the session never assumes a socket: a TCP or TLS
connection, or one stream of an HTTP/2 connection (RFC 8441). The
backend (:mod:`openwire.io.backend`) turns it into a channel.

Ownership moves with the value: until ``detach()`` the response's exchange
owns the connection (closing the handle closes it and frees the per-host
slot); after it, whoever holds the :class:`Detached` must close its stream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ByteStream", "Detached", "Upgraded"]


class ByteStream(Protocol):
    """The least a connection must do to carry a WebSocket.

    httpcore's network streams fit, and so would one stream of an HTTP/2
    connection: the session must not assume a socket.
    """

    async def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` bytes; ``b""`` once the peer ended its half."""
        ...

    async def write(self, buffer: bytes) -> None: ...
    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Detached:
    """A connection taken over after a ``101``: whoever holds this must close ``stream``.

    ``leading`` holds the bytes read past the response head (a server may
    send its first frames in the same packet as the ``101``); they come
    before anything ``stream`` yields.
    """

    leading: bytes
    stream: ByteStream
    open_channel: Callable[..., Any] | None = None
    """A channel made for this stream, if it has one: ``(sink, runtime, max_bytes) -> Channel``.

    An HTTP/2 stream is fed by its connection's tasks; a channel on top of
    it needs no tasks of its own. The backend uses it instead of looking
    inside ``stream``.
    """

    async def aclose(self) -> None:
        """Close the connection without using it (a handshake refused after the 101)."""
        await self.stream.aclose()


class Upgraded:
    """``response.upgraded``: the connection of a ``101``, until someone takes it.

    Closing the response leaves this open. Either :meth:`detach` it (once)
    and own what it returns, or :meth:`aclose` it.
    """

    __slots__ = ("_aclose", "_detach", "_done")

    def __init__(
        self, detach: Callable[[], Detached], aclose: Callable[[], Awaitable[None]]
    ) -> None:
        self._detach = detach
        self._aclose = aclose
        self._done = False

    def detach(self) -> Detached:
        """Take the connection and the bytes read past the ``101``; the caller must close it.

        Raises :class:`RuntimeError` if it was already detached or closed.
        """
        if self._done:
            raise RuntimeError(
                "the upgraded connection was already detached or closed; detach() it once "
                "and close what it returned"
            )
        self._done = True
        return self._detach()

    async def aclose(self) -> None:
        """Close the connection unless it was detached; idempotent."""
        if not self._done:
            self._done = True
            await self._aclose()
