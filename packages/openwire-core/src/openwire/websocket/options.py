"""The knobs of a WebSocket call, with their defaults in one place."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from openwire.compression import Deflate
from openwire.protocol.handshake import HTTPVersion

__all__ = ["WebSocketOptions"]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    """Settings of one WebSocket call (``client.new_websocket(url, **options)``).

    handshake_timeout
        Seconds for the whole opening handshake: DNS, connect, proxy, TLS and
        the HTTP exchange together. ``None`` waits forever. Default 10.
    close_timeout
        Seconds ``close()`` waits for the peer's Close before dropping TCP.
        Default 10.
    max_message_size, max_frame_size
        Largest incoming message / frame in bytes (``None`` = unlimited);
        checked from frame headers before memory is spent, failing with 1009.
        ``max_message_size`` also bounds what ``send`` accepts. Default 16 MiB.
    send_queue_size, send_queue_bytes
        How many messages / bytes may wait to be written; ``send`` waits
        beyond that (nothing is dropped). Default 32 messages, 4 MiB.
    receive_queue_size, receive_queue_bytes
        How many received messages / bytes may wait for ``receive``; beyond
        that the socket is not read (TCP pushes back on the server).
        Default 32 messages, 16 MiB.
    ping_interval, pong_timeout
        The heartbeat: a ping every ``ping_interval`` seconds; if no frame at
        all arrives within ``pong_timeout`` after the ping left our write
        buffer, the connection is closed with 1011 and
        :class:`~openwire.errors.PongTimeout`. A ping that cannot leave the
        buffer because not one byte of it moves for ``pong_timeout`` (the
        peer stopped reading) fails with :class:`~openwire.errors.WriteStalled`
        (1006) instead. ``None`` disables either. Default 20 and 20.
    subprotocols
        ``Sec-WebSocket-Protocol`` values to offer, in preference order.
    engine
        Engine name (``"native"``, ``"wsproto"``, ...); ``None`` defers to
        the client's ``websocket_engine``, then ``OPENWIRE_WEBSOCKET_ENGINE``,
        then ``"native"``.
    deliver_control_frames
        Also return Ping, Pong and Close events from ``receive`` (they are
        still answered automatically). Default ``False``.
    compression
        The permessage-deflate policy (RFC 7692): a :class:`~openwire.Deflate`
        (window bits, context takeover, ``min_size``, zlib level), or
        ``"deflate"`` for ``Deflate()``, offered when the engine implements
        the extension (every engine shipped with openwire does); the server
        decides, and ``ws.extensions`` shows the outcome. ``None`` offers
        nothing, for peers that mishandle the extension or traffic that does
        not compress (already-compressed media), where it costs CPU for
        nothing. Stored as a ``Deflate`` or ``None``. Default: the client's
        ``websocket_compression`` (``"deflate"`` unless set).
    streaming, max_stream_size
        ``streaming=True`` opts the connection in to ``receive_stream()``:
        each data message is then handed over in pieces as its frames
        arrive, so one message may be far larger than memory. The frame
        headers are then held to ``max_stream_size`` instead of
        ``max_message_size``, which ``receive()`` still enforces (1009) on
        the messages it assembles; ``max_frame_size`` still bounds every
        frame, and a compressed frame once inflated. ``max_stream_size``
        defaults to 1 GiB (``None``: unlimited): memory is bounded by the
        receive queue whatever a streamed message's size, so the limit is
        not there for memory but so that a peer that never ends a message,
        or an application that gathers a stream after all, meets a clear
        1009 naming the knob. Default ``streaming=False``: ``receive()``
        users get whole messages and the header-time ``max_message_size``
        check, at no cost.
    http_version
        ``"1.1"`` (the RFC 6455 upgrade on a connection of its own), ``"2"``
        (an extended CONNECT on a stream of a shared HTTP/2 connection, RFC
        8441; a typed :class:`~openwire.errors.HTTP2Unavailable` when the
        origin cannot) or ``"auto"`` (HTTP/2 when the origin offers ``h2``
        and the extended CONNECT, else HTTP/1.1). On ``ws://``, ``"2"`` is
        prior-knowledge h2c and ``"auto"`` is HTTP/1.1. ``None`` (default):
        ``"auto"`` on a ``Client(http2=True)``, else ``"1.1"``. See
        ``docs/http2.md``.
    """

    handshake_timeout: float | None = 10.0
    close_timeout: float | None = 10.0
    max_message_size: int | None = 16 * MiB
    max_frame_size: int | None = 16 * MiB
    send_queue_size: int = 32
    send_queue_bytes: int = 4 * MiB
    receive_queue_size: int = 32
    receive_queue_bytes: int = 16 * MiB
    ping_interval: float | None = 20.0
    pong_timeout: float | None = 20.0
    subprotocols: tuple[str, ...] = field(default=())
    engine: str | None = None
    deliver_control_frames: bool = False
    compression: Deflate | str | None = "deflate"
    streaming: bool = False
    max_stream_size: int | None = 1024 * MiB
    http_version: HTTPVersion | None = None

    def __post_init__(self) -> None:
        for name in (
            "send_queue_size",
            "send_queue_bytes",
            "receive_queue_size",
            "receive_queue_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("handshake_timeout", "close_timeout", "ping_interval", "pong_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(
                    f"{name} must be a positive number of seconds or None, got {value}"
                )
        for name in ("max_message_size", "max_frame_size", "max_stream_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive or None, got {value}")
        if self.http_version not in (None, "auto", "1.1", "2"):
            raise ValueError(
                f"http_version must be 'auto', '1.1', '2' or None (the client's), "
                f"got {self.http_version!r}"
            )
        object.__setattr__(self, "compression", Deflate.of(self.compression))
        names: object = self.subprotocols
        if isinstance(names, str):
            raise TypeError("subprotocols must be a sequence of names, not one string")
        object.__setattr__(self, "subprotocols", tuple(self.subprotocols))

    @classmethod
    def of(cls, **options: Any) -> WebSocketOptions:
        """The defaults with ``options`` applied; an unknown name is a TypeError.

        The options are frozen values, so the same ``options`` (equal and
        hashable, as a call site passes them for every connection it opens)
        give the same, already checked instance.
        """
        key = tuple(options.items())
        try:
            made = _MADE.get(key)
        except TypeError:  # a list of subprotocols: build it each time
            _check_names(options)
            return cls(**options)
        if made is None:
            _check_names(options)
            made = cls(**options)
            if len(_MADE) >= _MADE_MAX:
                _MADE.clear()
            _MADE[key] = made
        return made

    def with_changes(self, **changes: Any) -> WebSocketOptions:
        """A copy with ``changes`` applied; an unknown name raises ``TypeError`` naming it."""
        _check_names(changes)
        return replace(self, **changes)


def _check_names(options: dict[str, Any]) -> None:
    unknown = options.keys() - _NAMES
    if unknown:
        raise TypeError(f"unknown WebSocket option(s) {sorted(unknown)}; known: {sorted(_NAMES)}")


_NAMES = frozenset(f.name for f in fields(WebSocketOptions))
_MADE: dict[tuple[tuple[str, Any], ...], WebSocketOptions] = {}
_MADE_MAX = 64
