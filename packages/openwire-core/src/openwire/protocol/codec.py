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
fragmentation state, size limits: ``gate.header_error``, the rules every
engine shares) before waiting for the payload, so a violation or an oversize
frame is reported as soon as its header is in and no memory is spent on it.

The loop's fast path decodes a whole, unfragmented, uncompressed frame
inline: one ``bytes.decode`` per text message, no call. Everything else a
data frame can need (fragments, a frame still arriving, compressed messages)
goes to :class:`~openwire.protocol.assembler.MessageAssembler`, the same
object the core's reader uses for every other engine, so incremental UTF-8
(invalid text fails as soon as it is certain, even inside a frame that has
not fully arrived), reassembly and bounded inflate are written once.
Compressing on send lives in :class:`DeflateFrameCodec`, so a session without
deflate pays nothing for it. With a streaming receive
(:meth:`FrameCodec.stream_messages`) an uncompressed data frame that has not
fully arrived is not collected at all: its bytes leave as
:class:`~openwire.protocol.messages.Chunk` events as they come, and only
their count is kept, so even one huge frame costs no memory.

This codec is the native engine's parser *and* reader at once: fusing them
saves a call and a tuple per frame, which is why the native engine stays the
fastest. The other engines parse with their library and the core's
:class:`~openwire.protocol.reader.FrameReader` applies the same rules.
"""

from __future__ import annotations

from struct import Struct
from typing import Protocol

from openwire.errors import ProtocolError
from openwire.protocol.assembler import MessageAssembler, utf8_error
from openwire.protocol.deflate import CompressingEncoder, PerMessageDeflate
from openwire.protocol.frames import Opcode, build_close_payload
from openwire.protocol.gate import UNLIMITED, header_error
from openwire.protocol.masking import FrameMasker
from openwire.protocol.messages import Close, EngineEvent, Message, Ping, Pong

__all__ = ["DeflateFrameCodec", "FrameCodec", "FrameEncoder"]

_U16 = Struct("!H")
_U64 = Struct("!Q")

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY


class _Framer(Protocol):
    def encode_frame(
        self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, /
    ) -> bytes: ...


class FrameEncoder:
    """The ``encode_*`` half of the native codec, given an ``encode_frame``.

    Shared by every codec that builds its own frames, so which opcode and
    FIN bit each message gets is written once.
    """

    __slots__ = ()

    def encode_message(self: _Framer, data: str | bytes, compress: bool | None = None) -> bytes:
        # Nothing was negotiated, so ``compress`` has nothing to ask for (RFC 7692 §6:
        # without the extension every message goes as it is).
        if isinstance(data, str):
            return self.encode_frame(1, data.encode("utf-8"))
        return self.encode_frame(2, data)

    def encode_fragment(self: _Framer, opcode: int, payload: bytes, fin: bool) -> bytes:
        """One uncompressed frame of a message sent in pieces (opcode 0 after the first)."""
        return self.encode_frame(opcode, payload, fin)

    def encode_ping(self: _Framer, payload: bytes) -> bytes:
        return self.encode_frame(9, payload)

    def encode_pong(self: _Framer, payload: bytes) -> bytes:
        return self.encode_frame(10, payload)

    def encode_close(self: _Framer, code: int | None, reason: str) -> bytes:
        return self.encode_frame(8, build_close_payload(code, reason))


class FrameCodec(FrameEncoder, FrameMasker):
    """Client-side RFC 6455 codec (the native engine's connection).

    ``max_frame_size`` and ``max_message_size`` (``None`` = unlimited) are
    checked against the lengths announced in frame headers, before payloads
    are buffered (RFC 6455 §10.4). ``deflate`` is the negotiated
    permessage-deflate state, if any (inflated messages are bounded by it);
    :class:`DeflateFrameCodec` passes it and compresses what it sends.
    """

    __slots__ = (
        "_asm",
        "_buf",
        "_deflate",
        "_error",
        "_max_data",
        "_max_frame",
        "_max_message",
        "_need",
        "_passing",
        "_pending",
        "_pending_len",
        "_wait_opcode",
    )

    def __init__(
        self,
        max_frame_size: int | None,
        max_message_size: int | None,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        self._deflate = deflate
        self._max_frame = max_frame_size if max_frame_size is not None else UNLIMITED
        self._max_message = max_message_size if max_message_size is not None else UNLIMITED
        # A data frame longer than either limit is rejected from its header.
        self._max_data = min(self._max_frame, self._max_message)
        self._buf = b""
        self._error: ProtocolError | None = None
        FrameMasker.__init__(self)
        # A frame that has not fully arrived: chunks are collected and joined
        # once, so a large frame costs O(n), not a copy per chunk.
        self._need = 0
        self._pending: list[bytes] = []
        self._pending_len = 0
        # The first header byte of that frame when its payload is shown to
        # the assembler as it arrives (a data frame), else -1.
        self._wait_opcode = -1
        # Streaming receive: that frame's payload is handed out as it arrives
        # and not kept (only _pending_len counts it).
        self._passing = False
        # Fragments, incremental UTF-8 and inflate: the rules every engine shares.
        self._asm = MessageAssembler(deflate)

    def stream_messages(self, max_stream_size: int | None) -> None:
        """Hand data messages out as :class:`~openwire.protocol.messages.Chunk` events.

        The streaming receive: ``max_stream_size`` (``None``: unlimited)
        replaces ``max_message_size`` in the header rules and bounds a
        compressed message once inflated. An uncompressed data frame is
        passed through as it arrives and never held, whatever its size.
        """
        self._max_message = max_stream_size if max_stream_size is not None else UNLIMITED
        self._max_data = min(self._max_frame, self._max_message)
        self._asm.stream_chunks(self._max_frame, max_stream_size)

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes) -> list[EngineEvent]:
        if self._error is not None:
            raise self._error.repeat()
        events: list[EngineEvent] = []
        try:
            return self._parse(data, events)
        except ProtocolError as exc:
            exc.events = events
            self._error = exc
            raise

    def _parse(self, data: bytes, events: list[EngineEvent]) -> list[EngineEvent]:
        if self._passing:
            # A streamed frame: hand its bytes out, keep none of them.
            missing = self._need - self._pending_len
            b0 = self._wait_opcode
            if len(data) < missing:
                self._pending_len += len(data)
                chunk = self._asm.partial(b0 & 0x0F, bool(b0 & 0x40), data)
                if chunk is not None:
                    events.append(chunk)
                return events
            self._passing = False
            self._need = 0
            self._pending_len = 0
            self._wait_opcode = -1
            end_chunk = self._asm.frame_rest(bool(b0 & 0x80), data[:missing])
            if end_chunk is not None:
                events.append(end_chunk)
            if missing == len(data):
                return events
            data = data[missing:]
        if self._need:
            self._pending.append(data)
            self._pending_len += len(data)
            if self._pending_len < self._need:
                b0 = self._wait_opcode
                if b0 >= 0:
                    self._asm.partial(b0 & 0x0F, bool(b0 & 0x40), data)
                return []
            buf = b"".join(self._pending)
            self._pending = []
            self._need = 0
        elif self._buf:
            buf = self._buf + data
        else:
            buf = data
        asm = self._asm
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
                or asm.opcode
            ):
                error = header_error(
                    b0,
                    b1,
                    length,
                    bool(asm.opcode) and not asm.began,
                    asm.size,
                    self._max_frame,
                    self._max_message,
                    self._deflate is not None,
                )
                if error is not None:
                    raise error
            start = pos + header
            stop = start + length
            if stop > end:
                self._wait_for_frame(buf, pos, stop, start, b0, events)
                return events
            payload = buf[start:stop]
            pos = stop
            if opcode == 1 and fin and not asm.opcode and not b0 & 0x40:
                try:
                    events.append(Message(payload.decode("utf-8"), _TEXT))
                except UnicodeDecodeError as exc:
                    raise utf8_error(exc) from None
            elif opcode == 2 and fin and not asm.opcode and not b0 & 0x40:
                events.append(Message(payload, _BINARY))
            elif opcode == 9:
                events.append(Ping(payload))
            elif opcode == 10:
                events.append(Pong(payload))
            elif opcode == 8:
                events.append(Close(payload))
            else:
                message = asm.frame(opcode, bool(fin), bool(b0 & 0x40), payload)
                if message is not None:
                    events.append(message)
        self._buf = buf[pos:] if pos < end else b""
        return events

    def _wait_for_frame(
        self, buf: bytes, pos: int, stop: int, start: int, b0: int, events: list[EngineEvent]
    ) -> None:
        """Keep an incomplete frame; show a data frame's payload to the assembler as it comes."""
        rest = buf[pos:] if pos else buf
        self._buf = b""
        self._pending = [rest]
        self._pending_len = len(rest)
        self._need = stop - pos
        if not self._asm.wants_partial(b0):
            self._wait_opcode = -1
            return
        self._wait_opcode = b0
        chunk = self._asm.partial(b0 & 0x0F, bool(b0 & 0x40), rest[start - pos :])
        if self._asm.streaming:
            # Nothing of a streamed frame is kept: its bytes are handed out.
            self._pending = []
            self._passing = True
        if chunk is not None:
            events.append(chunk)


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
