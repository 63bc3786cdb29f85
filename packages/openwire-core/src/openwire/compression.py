"""The permessage-deflate policy (RFC 7692) a WebSocket call offers and applies.

A value type at the foundation, with no imports of openwire: the client's
configuration names it (``ClientConfig.websocket_compression``), and the
sans-I/O rules (``openwire.protocol.deflate``) build the offer from it,
check the server's answer against it and compress by it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Deflate"]


@dataclass(frozen=True, slots=True)
class Deflate:
    """The permessage-deflate policy (RFC 7692) of a WebSocket: what to offer, how to compress.

    ``compression=Deflate(...)`` per call, or ``websocket_compression=`` for
    every WebSocket of a client; ``"deflate"`` means ``Deflate()``. The
    server has the last word on the extension and its window parameters;
    the client refuses an answer that breaks this policy
    (:class:`~openwire.InvalidExtension`).

    min_size
        Messages shorter than this many bytes (UTF-8 for text) are sent
        uncompressed (RFC 7692 §6 allows it message by message);
        ``send(data, compress=True)`` overrides it for one message.
        Default 128: measured in ``bench/deflate_size.py`` and explained in
        ``docs/websocket.md``.
    client_max_window_bits
        ``None`` (default) offers the bare parameter: the server may shrink
        our compression window to save its memory, else we use 15 bits. A
        number 8-15 is a promise to compress with at most that window
        (smaller costs less memory per connection and compresses less).
        With 8, messages are never compressed: zlib cannot write raw
        deflate for a 256-byte window, and sending uncompressed is allowed.
    server_max_window_bits
        ``None`` (default) leaves the server's window to the server. A
        number 8-15 asks the server to compress with at most that window,
        which bounds our decompressor's memory; a server that cannot must
        decline the extension (§7.1.2.1), so asking can cost compression.
    client_no_context_takeover
        Compress every message with a fresh context: no history kept
        between messages (less memory held, smaller gains on small
        repetitive messages). Offered as a hint and honoured whatever the
        server answers. Default ``False``.
    server_no_context_takeover
        Ask the server to do the same, so our decompressor keeps no history
        between messages; a server that accepts must say so in its answer.
        Default ``False``.
    level, mem_level
        zlib's compression level (0-9, or -1 for zlib's default, 6) and
        memory level (1-9); ``mem_level=5`` (default, as websockets) costs
        about 144 KiB per compressing connection at a 15-bit window instead
        of 256 KiB at zlib's 8, for a slightly lower ratio.
    """

    min_size: int = 128
    client_max_window_bits: int | None = None
    server_max_window_bits: int | None = None
    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    level: int = -1
    mem_level: int = 5

    def __post_init__(self) -> None:
        if self.min_size < 0:
            raise ValueError(f"Deflate.min_size must be 0 or more bytes, got {self.min_size}")
        for name in ("client_max_window_bits", "server_max_window_bits"):
            bits = getattr(self, name)
            if bits is not None and not (isinstance(bits, int) and 8 <= bits <= 15):
                raise ValueError(
                    f"Deflate.{name} must be None or a number of bits from 8 to 15 "
                    f"(RFC 7692 §7.1.2), got {bits!r}"
                )
        if not -1 <= self.level <= 9:
            raise ValueError(f"Deflate.level must be -1 or 0-9 (zlib), got {self.level}")
        if not 1 <= self.mem_level <= 9:
            raise ValueError(f"Deflate.mem_level must be 1-9 (zlib), got {self.mem_level}")

    @classmethod
    def of(cls, value: Deflate | str | None) -> Deflate | None:
        """A ``compression`` option as a policy: ``"deflate"`` → ``Deflate()``, ``None`` stays.

        Raises ``ValueError`` for anything else, naming what is accepted.
        """
        if value is None or isinstance(value, Deflate):
            return value
        if value == "deflate":
            return _DEFAULT_DEFLATE
        raise ValueError(
            f'compression must be "deflate", an openwire.Deflate(...) policy or None, got {value!r}'
        )


_DEFAULT_DEFLATE = Deflate()
