"""The native RFC 6455 codec: a pure state machine, no I/O, no clocks.

Rules of this module: everything that turns bytes from the server into events,
and messages into bytes for the server, lives here and nowhere else. It holds
no socket and never awaits; feed it with :meth:`FrameCodec.receive_data` and
write what the ``encode_*`` methods return. The session (``session.py``)
decides what to do with the events.

Theory of operation. Bytes accumulate in one buffer; each pass of the parse
loop reads a frame header (RFC 6455 §5.2)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-------+-+-------------+-------------------------------+
    |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
    |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
    |N|V|V|V|       |S|             |   (if payload len==126/127)   |
    | |1|2|3|       |K|             |                               |
    +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +

validates it *completely* (RSV, opcode, mask bit, control-frame rules,
fragmentation state, size limits) before waiting for the payload, so a
violation or an oversize frame is reported as soon as its header is in and no
memory is spent on it. Complete frames become events; a text message's UTF-8
is decoded incrementally as its bytes arrive, so invalid UTF-8 fails the
connection as soon as it is certain, even inside a fragment or a frame that
has not fully arrived.

With permessage-deflate negotiated (RFC 7692), a message whose first frame
has RSV1 set is compressed. Those frames always take the loop's slower branch
(RSV1 is one of its triggers), are inflated as each frame completes, bounded
by ``max_message_size``, and text is UTF-8-checked per inflated frame; the
branch uncompressed frames take is unchanged, and compressing on send lives
in :class:`DeflateFrameCodec`, so a session without deflate pays nothing for
it.
"""

from __future__ import annotations

import codecs
import os
from struct import Struct
from typing import Protocol

from openwire.engines.contract import Close, EngineEvent, Message, Ping, Pong
from openwire.errors import ProtocolError
from openwire.protocol.deflate import CompressingEncoder, PerMessageDeflate
from openwire.protocol.frames import CloseCode, Opcode, build_close_payload
from openwire.protocol.gate import header_error
from openwire.protocol.masking import apply_mask

__all__ = ["DeflateFrameCodec", "FrameCodec", "FrameEncoder"]

_U16 = Struct("!H")
_U64 = Struct("!Q")
_HDR16 = Struct("!BBH")
_HDR64 = Struct("!BBQ")
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_urandom = os.urandom
_KEY_POOL = 256

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY


def _utf8_error(exc: UnicodeDecodeError) -> ProtocolError:
    return ProtocolError(
        f"received a text message that is not valid UTF-8 ({exc.reason}); "
        "text frames must carry UTF-8 (RFC 6455 §5.6, §8.1)",
        close_code=CloseCode.INVALID_FRAME_PAYLOAD_DATA,
    )


class _Framer(Protocol):
    def _frame(self, first: int, payload: bytes, /) -> bytes: ...


class FrameEncoder:
    """The ``encode_*`` half of an engine connection, given a ``_frame(first_byte, payload)``.

    Shared by every codec that builds its own frames, so which opcode and
    FIN bit each message gets is written once.
    """

    __slots__ = ()

    def encode_message(self: _Framer, data: str | bytes) -> bytes:
        if isinstance(data, str):
            return self._frame(0x81, data.encode("utf-8"))
        return self._frame(0x82, data)

    def encode_ping(self: _Framer, payload: bytes) -> bytes:
        return self._frame(0x89, payload)

    def encode_pong(self: _Framer, payload: bytes) -> bytes:
        return self._frame(0x8A, payload)

    def encode_close(self: _Framer, code: int | None, reason: str) -> bytes:
        return self._frame(0x88, build_close_payload(code, reason))


class FrameCodec(FrameEncoder):
    """Client-side RFC 6455 codec (the native engine's connection).

    ``max_frame_size`` and ``max_message_size`` (``None`` = unlimited) are
    checked against the lengths announced in frame headers, before payloads
    are buffered (RFC 6455 §10.4). ``deflate`` is the negotiated
    permessage-deflate state, if any (inflated messages are bounded by it);
    :class:`DeflateFrameCodec` passes it and compresses what it sends.
    """

    __slots__ = (
        "_buf",
        "_compressed",
        "_deflate",
        "_error",
        "_frag_decoder",
        "_frag_opcode",
        "_frag_parts",
        "_frag_size",
        "_frag_text",
        "_head_decoder",
        "_head_done",
        "_head_text",
        "_key_pos",
        "_keys",
        "_max_data",
        "_max_frame",
        "_max_message",
        "_need",
        "_pending",
        "_pending_len",
    )

    def __init__(
        self,
        max_frame_size: int | None,
        max_message_size: int | None,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        self._deflate = deflate
        self._max_frame = max_frame_size if max_frame_size is not None else 1 << 63
        self._max_message = max_message_size if max_message_size is not None else 1 << 63
        # A data frame longer than either limit is rejected from its header.
        self._max_data = min(self._max_frame, self._max_message)
        self._buf = b""
        self._error: ProtocolError | None = None
        self._keys = b""
        self._key_pos = _KEY_POOL
        # A frame that has not fully arrived: chunks are collected and joined
        # once, so a large frame costs O(n), not a copy per chunk.
        self._need = 0
        self._pending: list[bytes] = []
        self._pending_len = 0
        # The data message being reassembled from fragments (§5.4).
        self._frag_opcode = 0
        self._frag_parts: list[bytes] = []
        self._frag_text: list[str] = []
        self._frag_size = 0
        self._frag_decoder: codecs.IncrementalDecoder | None = None
        # The fragmented message in progress is compressed (RFC 7692 §6).
        self._compressed = False
        # UTF-8 decoding of the text frame at the head of the buffer while it
        # arrives, so invalid text fails before the frame is complete.
        self._head_decoder: codecs.IncrementalDecoder | None = None
        self._head_text: list[str] = []
        self._head_done = 0

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes) -> list[EngineEvent]:
        if self._error is not None:
            raise ProtocolError(
                f"the connection already failed: {self._error}", close_code=self._error.close_code
            )
        events: list[EngineEvent] = []
        try:
            return self._parse(data, events)
        except ProtocolError as exc:
            exc.events = events
            self._error = exc
            raise

    def _parse(self, data: bytes, events: list[EngineEvent]) -> list[EngineEvent]:
        if self._need:
            self._pending.append(data)
            self._pending_len += len(data)
            if self._pending_len < self._need:
                if self._head_decoder is not None:
                    self._decode_head(data)
                return []
            buf = b"".join(self._pending)
            self._pending = []
            self._need = 0
        elif self._buf:
            buf = self._buf + data
        else:
            buf = data
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            opcode = b0 & 0x0F
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
            fin = b0 & 0x80
            if (
                b0 & 0x70
                or b1 & 0x80
                or opcode > 2
                or length > self._max_data
                or not fin
                or opcode == 0
                or self._frag_opcode
            ):
                error = header_error(
                    b0,
                    b1,
                    length,
                    bool(self._frag_opcode),
                    self._frag_size,
                    self._max_frame,
                    self._max_message,
                    self._deflate is not None,
                )
                if error is not None:
                    raise error
                if b0 & 0x40 or (opcode == 0 and self._compressed):
                    start = pos + header
                    stop = start + length
                    if stop > end:
                        self._wait_for_frame(buf, pos, stop, start, False)
                        return events
                    message = self._inflate(opcode, fin, buf[start:stop])
                    pos = stop
                    if message is not None:
                        events.append(message)
                    continue
            start = pos + header
            stop = start + length
            if stop > end:
                text = opcode == 1 or (opcode == 0 and self._frag_opcode == 1)
                self._wait_for_frame(buf, pos, stop, start, text)
                return events
            payload = buf[start:stop]
            pos = stop
            if opcode == 1 and fin and not self._frag_opcode and self._head_decoder is None:
                try:
                    events.append(Message(payload.decode("utf-8"), _TEXT))
                except UnicodeDecodeError as exc:
                    raise _utf8_error(exc) from None
            elif opcode == 2 and fin and not self._frag_opcode:
                events.append(Message(payload, _BINARY))
            elif opcode == 9:
                events.append(Ping(payload))
            elif opcode == 10:
                events.append(Pong(payload))
            elif opcode == 8:
                events.append(Close(payload))
            else:
                message = self._fragment(opcode, fin, payload)
                if message is not None:
                    events.append(message)
        self._buf = buf[pos:] if pos < end else b""
        return events

    def _wait_for_frame(self, buf: bytes, pos: int, stop: int, start: int, text: bool) -> None:
        """Keep an incomplete frame; start decoding it now if it is (uncompressed) text."""
        rest = buf[pos:] if pos else buf
        self._buf = b""
        self._pending = [rest]
        self._pending_len = len(rest)
        self._need = stop - pos
        if text:
            if self._head_decoder is None:
                self._head_decoder = self._frag_decoder or _Utf8Decoder()
                self._head_text = []
                self._head_done = 0
            self._decode_head(rest[start - pos + self._head_done :])

    def _decode_head(self, chunk: bytes) -> None:
        assert self._head_decoder is not None
        try:
            self._head_text.append(self._head_decoder.decode(chunk))
        except UnicodeDecodeError as exc:
            raise _utf8_error(exc) from None
        self._head_done += len(chunk)

    def _fragment(self, opcode: int, fin: int, payload: bytes) -> Message | None:
        """Accumulate a text frame or fragment; return the message once FIN arrives."""
        if opcode:
            self._frag_opcode = opcode
            self._frag_size = 0
            self._frag_parts = []
            self._frag_text = []
            self._frag_decoder = None
        self._frag_size += len(payload)
        if self._frag_opcode == 1:
            decoder = self._head_decoder or self._frag_decoder or _Utf8Decoder()
            done = self._head_done
            self._frag_text += self._head_text
            self._head_decoder = None
            self._head_text = []
            self._head_done = 0
            try:
                self._frag_text.append(decoder.decode(payload[done:], bool(fin)))
            except UnicodeDecodeError as exc:
                raise _utf8_error(exc) from None
            self._frag_decoder = decoder
            if not fin:
                return None
            message = Message("".join(self._frag_text), _TEXT)
        else:
            self._frag_parts.append(payload)
            if not fin:
                return None
            message = Message(b"".join(self._frag_parts), _BINARY)
        self._frag_opcode = 0
        self._frag_decoder = None
        self._frag_parts = []
        self._frag_text = []
        self._frag_size = 0
        return message

    def _inflate(self, opcode: int, fin: int, payload: bytes) -> Message | None:
        """Inflate a frame of a compressed message; return the message once FIN arrives.

        Each frame is inflated as soon as it is complete (RFC 7692 §6.2 allows
        it: deflate is a stream), so compressed frames are never kept, and
        text is checked as it inflates, failing on invalid UTF-8 early.
        """
        assert self._deflate is not None
        if opcode:
            if fin:
                data = self._deflate.decompress(payload, True)
                if opcode == 2:
                    return Message(data, _BINARY)
                try:
                    return Message(data.decode("utf-8"), _TEXT)
                except UnicodeDecodeError as exc:
                    raise _utf8_error(exc) from None
            self._frag_opcode = opcode
            self._compressed = True
            self._frag_size = 0
            self._frag_parts = []
            self._frag_text = []
            self._frag_decoder = _Utf8Decoder() if opcode == 1 else None
        # Wire bytes, for header_error's message limit; inflated ones are the
        # deflate object's to bound.
        self._frag_size += len(payload)
        data = self._deflate.decompress(payload, bool(fin))
        if self._frag_decoder is not None:
            try:
                self._frag_text.append(self._frag_decoder.decode(data, bool(fin)))
            except UnicodeDecodeError as exc:
                raise _utf8_error(exc) from None
        else:
            self._frag_parts.append(data)
        if not fin:
            return None
        if self._frag_opcode == 1:
            message = Message("".join(self._frag_text), _TEXT)
        else:
            message = Message(b"".join(self._frag_parts), _BINARY)
        self._frag_opcode = 0
        self._compressed = False
        self._frag_decoder = None
        self._frag_parts = []
        self._frag_text = []
        self._frag_size = 0
        return message

    # ----------------------------------------------------------------- output

    def _frame(self, first: int, payload: bytes | bytearray | memoryview) -> bytes:
        """One FIN frame, masked with a fresh key from the OS CSPRNG (§5.3).

        Keys are drawn 64 at a time: one ``os.urandom`` call per frame costs
        more than the rest of encoding a small frame. Each key is used once.
        """
        n = len(payload)
        pos = self._key_pos
        if pos == _KEY_POOL:
            self._keys = _urandom(_KEY_POOL)
            pos = 0
        self._key_pos = pos + 4
        key = self._keys[pos : pos + 4]
        if n < 126:
            header = bytes((first, 0x80 | n))
        elif n < 65536:
            header = _HDR16.pack(first, 0xFE, n)
        else:
            header = _HDR64.pack(first, 0xFF, n)
        if not isinstance(payload, bytes):
            payload = bytes(payload)
        return header + key + apply_mask(payload, key)


class DeflateFrameCodec(CompressingEncoder, FrameCodec):
    """The codec once permessage-deflate is negotiated: it also compresses what it sends.

    A subclass rather than a branch in :meth:`FrameCodec.encode_message`, so
    a connection without the extension does not test for it on every send.
    """

    __slots__ = ()

    def __init__(
        self,
        max_frame_size: int | None,
        max_message_size: int | None,
        deflate: PerMessageDeflate,
    ) -> None:
        super().__init__(max_frame_size, max_message_size, deflate)
