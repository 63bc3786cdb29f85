"""aiohttp's private WebSocket reader and masking: every private name this package uses, pinned.

aiohttp has no public frame parser. Its compiled reader
(``aiohttp._websocket.reader``, Cython) and masking
(``aiohttp._websocket.helpers.websocket_mask``) are what make this engine
fast, so they are used anyway, here and nowhere else, with an upper bound on
aiohttp in this package's ``pyproject.toml`` and a test
(``tests/engines/test_compat.py``) that names the package and version when
upstream changes one of them.

What is relied on, exactly:

- ``WebSocketReader(queue, max_msg_size, compress, decode_text)`` and its
  ``feed_data(data) -> (failed, rest)``;
- its ``cpdef _handle_frame(fin, opcode, payload, compressed)``, called once
  per complete frame. A Python subclass overrides it, so frames come out
  here instead of going through aiohttp's message layer (reassembly,
  decoding, inflating: the core's job);
- ``WebSocketDataQueue(protocol, limit, loop=...)``, which the reader needs,
  and its ``exception()``, which holds what a failed ``feed_data`` raised;
- ``websocket_mask(key, bytearray)``, masking in place in C.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from aiohttp._websocket.helpers import websocket_mask
from aiohttp._websocket.models import WebSocketError
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from openwire.protocol.frames import Frame

if TYPE_CHECKING:
    from aiohttp.base_protocol import BaseProtocol

__all__ = ["SUPPORTED", "FrameReader", "WebSocketError", "websocket_mask"]

# The aiohttp releases this module was checked against; keep pyproject.toml in step.
SUPPORTED = ">=3.11,<3.15"

_new = tuple.__new__
# The queue only ever holds aiohttp's own messages, and this reader sends none.
_QUEUE_LIMIT = 1 << 16
# aiohttp's "compressed" flag for a frame whose message has RSV1 set.
_COMPRESSED = 1


class _ReadingPaused:
    """Stands in for aiohttp's protocol: "already paused", so the queue never pauses anything."""

    _reading_paused = True


_READING_PAUSED = _ReadingPaused()  # stateless: one for every connection


class FrameReader(WebSocketReader):
    """aiohttp's compiled reader, its message layer cut off: whole frames land in ``frames``."""

    # The compiled base has no instance dict; slots keep it that way (an
    # idle connection would otherwise carry a dict of two entries).
    __slots__ = ("frames", "queue_")

    def __init__(self) -> None:
        protocol = cast("BaseProtocol", _READING_PAUSED)
        queue = WebSocketDataQueue(protocol, _QUEUE_LIMIT, loop=None)  # type: ignore[arg-type]
        # No size limit (the core's), RSV1 allowed (the core decides), no decoding.
        super().__init__(queue, 0, True, False)
        self.queue_ = queue
        self.frames: list[Frame] = []

    def _handle_frame(
        self, fin: bool, opcode: int, payload: bytes | bytearray, compressed: int
    ) -> None:
        # A plain tuple in Frame's field order: this runs once per frame, from C.
        # Server frames are unmasked and never folded (no size limit), so
        # payload is bytes; aiohttp passes its data message's FIN and
        # "compressed" (1) with control and continuation frames, which the
        # core does not read there.
        self.frames.append((opcode, fin, compressed == 1, payload))  # type: ignore[arg-type]
