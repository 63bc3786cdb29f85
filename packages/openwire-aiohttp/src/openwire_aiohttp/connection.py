"""One connection's codec, built on aiohttp's compiled frame reader and masking.

aiohttp's reader is a server/client-agnostic parser: it unmasks masked frames
instead of rejecting them, knows one size limit (per message, not per frame),
validates Close payloads itself and hands messages to an asyncio flow-control
queue. The openwire contract needs more than that and slightly different
things, so each chunk takes two passes:

1. A header walk in Python, once per *frame* (never per byte), applies the
   rules aiohttp does not apply or applies later than openwire promises:
   masked server frames, ``max_frame_size``, ``max_message_size`` and the
   fragmentation rules (§5.4) are all decided from the header, before any
   payload reaches a buffer. It uses the native codec's wording and error
   precedence, so a violation reads the same whichever engine is selected.
   Close frames are cut out of the stream here and reported with their raw
   payload, because the core, not the engine, validates close codes.
2. The remaining bytes go to aiohttp's reader, which reassembles fragments and
   decodes text in C. Its only remaining job that can fail is UTF-8 (1007),
   which it checks once a message is complete; fragments of a text message
   are also checked as they arrive (see ``_validate``).

Bytes the reader receives have always been validated: an incomplete header or
Close frame at the end of a chunk is held back and completed by the next one.

With permessage-deflate negotiated (RFC 7692), compressed messages are cut out
of the stream too, and inflated by the core's
:class:`~openwire.protocol.deflate.PerMessageDeflate` rather than by the
reader. aiohttp's inflater buffers a whole compressed message before it
starts, reports invalid deflate data as an unexpected exception rather than
1007, and keeps its window across messages whatever the server negotiated;
the core's inflates each piece as it arrives, bounded by ``max_message_size``,
with the native engine's close codes. Compressed frames always take the
header walk's slow branch already (RSV1 or a fragment in progress), so a
connection without the extension does no extra work per frame.
"""

from __future__ import annotations

import codecs
import os
import sys
from struct import Struct
from typing import TYPE_CHECKING, Final, cast

from aiohttp._websocket.helpers import websocket_mask
from aiohttp._websocket.models import WebSocketError, WSMsgType
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from openwire.engines.contract import Close, EngineEvent, Message, Ping, Pong
from openwire.errors import PayloadTooBig, ProtocolError
from openwire.protocol.codec import FrameEncoder
from openwire.protocol.deflate import CompressingEncoder, PerMessageDeflate
from openwire.protocol.frames import CloseCode, Opcode
from openwire.protocol.gate import header_error

if TYPE_CHECKING:
    from aiohttp.base_protocol import BaseProtocol

__all__ = ["AiohttpConnection", "AiohttpDeflateConnection"]

_U16 = Struct("!H")
_U64 = Struct("!Q")
# Header and masking key packed in one call: the three RFC 6455 length forms.
_PACK_SHORT = Struct("!BB4s").pack
_PACK_MEDIUM = Struct("!BBH4s").pack
_PACK_LONG = Struct("!BBQ4s").pack

_new = tuple.__new__
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_urandom = os.urandom
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_PING = Opcode.PING
_PONG = Opcode.PONG
_WS_TEXT = WSMsgType.TEXT
_WS_BINARY = WSMsgType.BINARY
_WS_PING = WSMsgType.PING

# "No limit" is the largest length aiohttp's reader can represent, so an
# absurd 64-bit length is rejected here, with openwire's error, not there.
_UNLIMITED: Final = sys.maxsize

# Masking keys are drawn from the OS CSPRNG (§5.3) in batches: one
# os.urandom(4) per frame is a system call that costs more than framing and
# masking a small message. Each frame still gets its own unused key.
_KEY_POOL: Final = 256

# The queue counts the bytes it holds and, past its high-water mark, asks its
# protocol to pause or stalls the reader. This codec drains the queue after
# every feed, so the count is meaningless: the limit is set as high as the
# compiled queue stores (2 * limit must fit an unsigned 32-bit int) and the
# queue is re-initialised long before the count gets near it.
_QUEUE_LIMIT: Final = (1 << 31) - 1
_QUEUE_RESET: Final = 1 << 30


class _ReadingPaused:
    """Stands in for aiohttp's protocol: reports "already paused" so the
    queue never tries to pause a transport this codec does not have."""

    _reading_paused = True


_PROTOCOL = cast("BaseProtocol", _ReadingPaused())


def _new_queue() -> WebSocketDataQueue:
    return WebSocketDataQueue(_PROTOCOL, _QUEUE_LIMIT, loop=None)  # type: ignore[arg-type]


def _new_reader(queue: WebSocketDataQueue) -> WebSocketReader:
    # Text is decoded by the reader (``decode_text``) from aiohttp 3.12 on;
    # older readers always decode and take three arguments.
    try:
        return WebSocketReader(queue, 0, False, True)
    except TypeError:  # pragma: no cover - depends on the installed aiohttp
        return WebSocketReader(queue, 0, False)  # type: ignore[call-arg]


_STALLS = hasattr(_new_queue(), "_stalled_reader")


def _utf8_error(exc: UnicodeDecodeError) -> ProtocolError:
    return ProtocolError(
        f"received a text message that is not valid UTF-8 ({exc.reason}); "
        "text frames must carry UTF-8 (RFC 6455 §5.6, §8.1)",
        close_code=CloseCode.INVALID_FRAME_PAYLOAD_DATA,
    )


def _reader_error(exc: BaseException | None) -> ProtocolError:
    """Turn what aiohttp's reader reported into the openwire error with its code."""
    if isinstance(exc, WebSocketError):
        if exc.code == CloseCode.INVALID_FRAME_PAYLOAD_DATA:
            return ProtocolError(
                "received a text message that is not valid UTF-8; text frames must "
                "carry UTF-8 (RFC 6455 §5.6, §8.1)",
                close_code=CloseCode.INVALID_FRAME_PAYLOAD_DATA,
            )
        if exc.code == CloseCode.MESSAGE_TOO_BIG:
            return PayloadTooBig(f"aiohttp's reader rejected a message: {exc}")
        return ProtocolError(f"aiohttp's reader rejected a frame: {exc}", close_code=exc.code)
    # Not a protocol violation the reader knows about: report it as the
    # internal error it is, still through the one exception the core expects.
    return ProtocolError(f"aiohttp's reader failed: {exc!r}", close_code=CloseCode.INTERNAL_ERROR)


class AiohttpConnection(FrameEncoder):
    """Client-side RFC 6455 codec: header walk in Python, payloads in aiohttp's C reader.

    ``max_frame_size`` and ``max_message_size`` (``None`` = unlimited) are
    checked against the lengths announced in frame headers, before payloads
    are buffered (RFC 6455 §10.4). ``deflate`` is the negotiated
    permessage-deflate state, if any; :class:`AiohttpDeflateConnection`
    passes it and compresses what it sends.
    """

    __slots__ = (
        "_deflate",
        "_error",
        "_frag",
        "_frag_size",
        "_held",
        "_inflate_text",
        "_inflated",
        "_inflated_text",
        "_inflating",
        "_items",
        "_key_pos",
        "_keys",
        "_max_frame",
        "_max_message",
        "_max_single",
        "_queue",
        "_reader",
        "_skip",
        "_skip_fin",
        "_skip_inflate",
        "_skip_text",
        "_utf8",
        "_watch_stall",
    )

    def __init__(
        self,
        max_frame_size: int | None,
        max_message_size: int | None,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        self._deflate = deflate
        self._max_frame = _UNLIMITED if max_frame_size is None else max_frame_size
        self._max_message = _UNLIMITED if max_message_size is None else max_message_size
        # The bound for the common case, an unfragmented data frame, which is
        # a frame and a message at once: one comparison on the fast path.
        self._max_single = min(self._max_frame, self._max_message)
        self._queue = _new_queue()
        self._items = self._queue._buffer
        self._reader = _new_reader(self._queue)
        # Only a message near the queue's counter range can make the reader
        # stall within one feed; watch for that only when the limit allows it.
        self._watch_stall = _STALLS and self._max_message > _QUEUE_RESET
        # Bytes not yet given to the reader: an incomplete header, or a Close
        # frame that has not fully arrived.
        self._held = b""
        # Payload bytes of an already validated frame still to arrive; they go
        # straight to the reader.
        self._skip = 0
        # Opcode and announced size of the fragmented message in progress.
        self._frag = 0
        self._frag_size = 0
        # The UTF-8 state of a fragmented text message (see _validate), and
        # whether the payload still to come (_skip) belongs to it.
        self._utf8: codecs.IncrementalDecoder | None = None
        self._skip_text = False
        self._error: ProtocolError | None = None
        self._keys = b""
        self._key_pos = _KEY_POOL
        # The compressed message in progress: its opcode (0 if none), the
        # UTF-8 decoder of a text one and what has been inflated so far.
        # _skip_inflate: the payload still to come (_skip) is compressed and
        # goes to the inflater, not the reader; _skip_fin: it ends the message.
        self._inflating = 0
        self._inflate_text: codecs.IncrementalDecoder | None = None
        self._inflated: list[bytes] = []
        self._inflated_text: list[str] = []
        self._skip_inflate = False
        self._skip_fin = False

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        try:
            skip = self._skip
            fed = 0  # buf[:fed] went to the reader (or was cut out)
            if skip:
                if self._skip_inflate:
                    if skip >= len(data):
                        self._skip = skip - len(data)
                        if not self._skip:
                            self._skip_inflate = False
                        self._inflate(data, not self._skip and self._skip_fin, events)
                        return events
                    self._skip_inflate = False
                    self._inflate(data[:skip], self._skip_fin, events)
                    fed = skip
                elif skip >= len(data):
                    self._skip = skip - len(data)
                    if self._skip_text:
                        self._validate(data)
                        if skip == len(data):
                            self._end_text_frame()
                    self._feed(data, events)
                    return events
                self._skip = 0
                if self._skip_text:
                    self._validate(data[:skip])
                    self._end_text_frame()
                buf = data
                pos = skip
            elif self._held:
                buf = self._held + data
                self._held = b""
                pos = 0
            else:
                buf = data
                pos = 0
            end = len(buf)
            failure: ProtocolError | None = None
            max_single = self._max_single
            frag = self._frag
            while True:
                if end - pos < 2:
                    break
                b0 = buf[pos]
                b1 = buf[pos + 1]
                length = b1 & 0x7F
                header = 2
                if length == 126:
                    if end - pos < 4:
                        break
                    length = _U16.unpack_from(buf, pos + 2)[0]
                    header = 4
                elif length == 127:
                    if end - pos < 10:
                        break
                    length = _U64.unpack_from(buf, pos + 2)[0]
                    header = 10
                if b1 & 0x80 or frag or length > max_single or (b0 != 0x81 and b0 != 0x82):
                    try:
                        self._check(b0, b1, length)
                        if self._utf8 is not None and not b0 & 0x08:
                            # A fragment of a text message: validated as it
                            # arrives, like the native codec (see _validate).
                            start = pos + header
                            self._validate(buf[start : start + length])
                            if start + length > end:
                                self._skip_text = True
                            elif b0 & 0x80:
                                self._utf8 = None
                    except ProtocolError as exc:
                        failure = exc
                        break
                    frag = self._frag
                    if b0 & 0x40 or (self._inflating and not b0 & 0x08):
                        # A frame of a compressed message: inflated here, as
                        # its bytes arrive, and never given to the reader.
                        if pos > fed:
                            self._feed(buf[fed:pos], events)
                        if b0 & 0x0F:
                            self._start_inflate(b0 & 0x0F)
                        start = pos + header
                        stop = start + length
                        if stop > end:
                            self._skip = stop - end
                            self._skip_inflate = True
                            self._skip_fin = bool(b0 & 0x80)
                            if start < end:
                                self._inflate(buf[start:], False, events)
                            pos = fed = end
                            break
                        self._inflate(buf[start:stop], bool(b0 & 0x80), events)
                        pos = fed = stop
                        continue
                    if b0 == 0x88:
                        stop = pos + header + length
                        if stop > end:
                            break
                        if pos > fed:
                            self._feed(buf[fed:pos], events)
                        events.append(Close(buf[pos + header : stop]))
                        pos = fed = stop
                        continue
                    if header > 2 and b0 & 0x08:
                        # A ping or pong whose length takes more bytes than
                        # needed (§5.2 binds the sender; every engine accepts
                        # it): aiohttp's reader takes the 126/127 marker for
                        # the length and refuses the frame as over 125 bytes,
                        # so it is cut out here, like a Close.
                        stop = pos + header + length
                        if stop > end:
                            break
                        if pos > fed:
                            self._feed(buf[fed:pos], events)
                        payload = buf[pos + header : stop]
                        events.append(Ping(payload) if b0 == 0x89 else Pong(payload))
                        pos = fed = stop
                        continue
                pos += header + length
                if pos >= end:
                    # The last frame ends exactly here or its payload is still to come.
                    self._skip = pos - end
                    pos = end
                    break
            if failure is not None:
                # Frames before the bad one come first: one of them may fail
                # on its own (invalid UTF-8), as it would with the native codec.
                if pos > fed:
                    self._feed(buf[fed:pos], events)
                raise failure
            if pos < end:
                self._held = buf[pos:]
            if pos > fed:
                # _feed, inlined: this is the path of every small message.
                if self._reader.feed_data(buf if fed == 0 and pos == end else buf[fed:pos])[0]:
                    self._drain(events)
                    raise _reader_error(self._queue.exception())
                items = self._items
                if items:
                    append = events.append
                    for message, _ in items:
                        kind = message[0]
                        if kind is _WS_TEXT:
                            append(_new(Message, (message[1], _TEXT)))
                        elif kind is _WS_BINARY:
                            append(_new(Message, (message[1], _BINARY)))
                        elif kind is _WS_PING:
                            append(_new(Ping, (message[1], _PING)))
                        else:
                            append(_new(Pong, (message[1], _PONG)))
                    items.clear()
                    queue = self._queue
                    if queue._size > _QUEUE_RESET or (
                        self._watch_stall and queue._stalled_reader is not None
                    ):
                        self._reset_queue(events)
            return events
        except ProtocolError as exc:
            self._fail(exc)
            exc.events = events
            raise

    def _fail(self, exc: ProtocolError) -> None:
        """Make every later call fail too: route all frames to ``_check``, which raises."""
        if self._error is None:
            self._error = exc
        self._max_single = -1
        self._skip = 0
        self._skip_text = False
        self._skip_inflate = False
        self._held = b""

    def _validate(self, chunk: bytes) -> None:
        """Check a fragmented text message's UTF-8 as its bytes arrive.

        aiohttp decodes a text message only once it is complete; for a
        message spread over several frames that is too late to match the
        native codec, which fails the connection at the first bad fragment.
        Unfragmented text is left to aiohttp: checking it here would decode
        every small message twice.
        """
        assert self._utf8 is not None
        try:
            self._utf8.decode(chunk)
        except UnicodeDecodeError as exc:
            raise _utf8_error(exc) from None

    def _start_inflate(self, opcode: int) -> None:
        self._inflating = opcode
        self._inflate_text = _Utf8Decoder() if opcode == 1 else None
        self._inflated = []
        self._inflated_text = []

    def _inflate(self, chunk: bytes, final: bool, events: list[EngineEvent]) -> None:
        """Inflate the next piece of the compressed message; ``final`` ends the message.

        Pieces are whatever part of a frame a chunk holds, so a compressed
        frame is never buffered whole, and text is UTF-8-checked as it
        inflates: invalid text fails as early as with the native engine.
        """
        assert self._deflate is not None
        data = self._deflate.decompress(chunk, final)
        decoder = self._inflate_text
        if not final:
            if decoder is None:
                self._inflated.append(data)
            else:
                try:
                    self._inflated_text.append(decoder.decode(data))
                except UnicodeDecodeError as exc:
                    raise _utf8_error(exc) from None
            return
        if decoder is None:
            if self._inflated:
                self._inflated.append(data)
                data = b"".join(self._inflated)
                self._inflated = []
            events.append(_new(Message, (data, _BINARY)))
        else:
            try:
                text = decoder.decode(data, True)
            except UnicodeDecodeError as exc:
                raise _utf8_error(exc) from None
            if self._inflated_text:
                self._inflated_text.append(text)
                text = "".join(self._inflated_text)
                self._inflated_text = []
            self._inflate_text = None
            events.append(_new(Message, (text, _TEXT)))
        self._inflating = 0

    def _end_text_frame(self) -> None:
        self._skip_text = False
        if not self._frag:
            self._utf8 = None

    def _feed(self, chunk: bytes, events: list[EngineEvent]) -> None:
        """Run validated bytes through aiohttp's reader; translate what it completes."""
        if self._reader.feed_data(chunk)[0]:
            self._drain(events)
            raise _reader_error(self._queue.exception())
        if self._items:
            self._drain(events)
            queue = self._queue
            if queue._size > _QUEUE_RESET or (
                self._watch_stall and queue._stalled_reader is not None
            ):
                self._reset_queue(events)

    def _drain(self, events: list[EngineEvent]) -> None:
        """Translate the messages aiohttp queued, in order, and empty its queue."""
        items = self._items
        append = events.append
        for message, _ in items:
            kind = message[0]
            if kind is _WS_TEXT:
                append(_new(Message, (message[1], _TEXT)))
            elif kind is _WS_BINARY:
                append(_new(Message, (message[1], _BINARY)))
            elif kind is _WS_PING:
                append(_new(Ping, (message[1], _PING)))
            else:
                append(_new(Pong, (message[1], _PONG)))
        items.clear()

    def _reset_queue(self, events: list[EngineEvent]) -> None:
        """Zero the queue's byte count; resume the reader if it stalled on it."""
        stalled = self._watch_stall and self._queue._stalled_reader is not None
        self._queue.__init__(_PROTOCOL, _QUEUE_LIMIT, loop=None)  # type: ignore[misc]
        self._items = self._queue._buffer
        if stalled:
            # The reader kept the unparsed rest; an empty feed parses it.
            self._feed(b"", events)

    def _check(self, b0: int, b1: int, length: int) -> None:
        """Validate a header the fast path does not cover; track fragmentation.

        The rules themselves are :func:`openwire.protocol.gate.header_error`,
        shared with every engine, so each violation gets the same close code.
        """
        if self._error is not None:
            raise ProtocolError(
                f"the connection already failed: {self._error}",
                close_code=self._error.close_code,
            )
        opcode = b0 & 0x0F
        error = header_error(
            b0,
            b1,
            length,
            bool(self._frag),
            self._frag_size,
            self._max_frame,
            self._max_message,
            self._deflate is not None,
        )
        if error is not None:
            raise error
        if opcode >= 8:
            return
        size = self._frag_size + length if opcode == 0 else length
        if b0 & 0x80:
            self._frag = 0
            self._frag_size = 0
        else:
            if opcode == 1 and not b0 & 0x40:
                # Compressed text is checked once inflated (_inflate).
                self._utf8 = _Utf8Decoder()
            self._frag = opcode or self._frag
            self._frag_size = size

    # ----------------------------------------------------------------- output

    def _frame(self, first: int, payload: bytes) -> bytes:
        """One FIN frame, masked in place by aiohttp's C routine with a fresh key (§5.3)."""
        pos = self._key_pos
        if pos == _KEY_POOL:
            self._keys = _urandom(_KEY_POOL)
            pos = 0
        self._key_pos = pos + 4
        key = self._keys[pos : pos + 4]
        masked = bytearray(payload)
        websocket_mask(key, masked)
        n = len(masked)
        if n < 126:
            return _PACK_SHORT(first, 0x80 | n, key) + masked
        if n < 65536:
            return _PACK_MEDIUM(first, 0xFE, n, key) + masked
        return _PACK_LONG(first, 0xFF, n, key) + masked


class AiohttpDeflateConnection(CompressingEncoder, AiohttpConnection):
    """The codec once permessage-deflate is negotiated: it also compresses what it sends.

    A subclass rather than a branch in :meth:`AiohttpConnection.encode_message`,
    so a connection without the extension does not test for it on every send.
    """

    __slots__ = ()

    def __init__(
        self,
        max_frame_size: int | None,
        max_message_size: int | None,
        deflate: PerMessageDeflate,
    ) -> None:
        super().__init__(max_frame_size, max_message_size, deflate)
