"""The core's reader: every RFC 6455 / RFC 7692 rule around an engine that only parses frames.

Rules of this module: an engine (``openwire.engines.contract``) turns bytes
into complete frames and frames into masked bytes; everything else a
conformant client must do with those frames is applied here, once, whichever
library parsed them:

- the header rules (``gate.header_error``: RSV bits, opcodes, masking,
  control frames, fragmentation order, ``max_frame_size`` and
  ``max_message_size``), decided from each header *before the engine sees
  any byte of it*, so an oversize or illegal frame costs no memory and is
  reported with the same words and close code by every engine;
- fail-fast UTF-8, reassembly and bounded permessage-deflate
  (``assembler.MessageAssembler``);
- the sticky failure: after a :class:`~openwire.errors.ProtocolError`, every
  later call raises it again and the engine is never fed again (a library's
  parser is undefined after it failed).

An exception other than ``ProtocolError`` from the engine is a bug in the
engine; it is not caught here but by the session, which fails the connection
with 1011 and names the engine (one place for that policy).

Theory of operation. Each chunk from the socket is walked header by header
(payloads are skipped arithmetically, as in the native codec)::

    chunk:  | rest of a frame | hdr | payload | hdr | payload ...| hdr (cut) |
              ^ still arriving  ^ vetted       ^ vetted          ^ held back

The bytes up to the last complete header go to ``engine.receive_frames``;
an incomplete header is held back and re-presented with the next chunk, so
the engine only ever sees headers the rules accepted. When the walk ends
inside a payload, the reader knows that frame's header and where its payload
starts in this chunk, so the partial payload is handed to the assembler as it
arrives: invalid UTF-8 in a single huge frame fails at the first bad byte on
every engine. A streaming receive (:meth:`FrameReader.stream_messages`) is
built on the same spot: those partial payloads leave as
:class:`~openwire.protocol.messages.Chunk` events as they arrive, binary ones
too. Frames the engine completes become events in stream order; whole
unfragmented uncompressed frames, the common case, are decoded inline
without a call.
"""

from __future__ import annotations

from struct import Struct
from typing import Protocol

from openwire.errors import ProtocolError
from openwire.protocol.assembler import MessageAssembler, utf8_error
from openwire.protocol.deflate import PerMessageDeflate
from openwire.protocol.frames import Frame, Opcode, build_close_payload
from openwire.protocol.gate import UNLIMITED, header_error
from openwire.protocol.messages import Close, EngineEvent, Message, Ping, Pong

__all__ = ["DeflateFrameReader", "FrameParser", "FrameReader"]

_U16 = Struct("!H")
_U64 = Struct("!Q")
_new = tuple.__new__
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_PING = Opcode.PING
_PONG = Opcode.PONG
_CLOSE = Opcode.CLOSE


# A length below this was written in a longer form than needed, by header size.
_LONGEST = {4: 126, 10: 65536}


def _minimal_header(b0: int, length: int) -> bytes:
    """The frame header for ``length`` in its shortest form (server frames are unmasked)."""
    if length < 126:
        return bytes((b0, length))
    return bytes((b0, 126)) + _U16.pack(length)


class FrameParser(Protocol):
    """What the reader needs from an engine connection (the contract's ``EngineConnection``)."""

    def receive_frames(self, data: bytes, /) -> list[Frame]: ...

    def encode_frame(
        self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, /
    ) -> bytes: ...


class FrameReader:
    """A frame engine's connection as the session sees it: bytes → events, messages → bytes.

    ``max_frame_size`` and ``max_message_size`` (``None`` = unlimited) are
    checked against the lengths announced in frame headers; ``deflate`` is the
    negotiated permessage-deflate state, which also bounds inflated messages
    (:class:`DeflateFrameReader` compresses what it sends).
    """

    __slots__ = (
        "_asm",
        "_b0",
        "_encode",
        "_error",
        "_held",
        "_in_message",
        "_max_data",
        "_max_frame",
        "_max_message",
        "_message_size",
        "_minimal_all",
        "_minimal_control",
        "_parse",
        "_rsv1_allowed",
        "_skip",
    )

    def __init__(
        self,
        conn: FrameParser,
        max_frame_size: int | None,
        max_message_size: int | None,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        self._parse = conn.receive_frames
        self._encode = conn.encode_frame
        # An engine whose library refuses a length written in a longer form
        # than needed asks for the minimal form (§5.2 binds the sender; a
        # receiver may accept either, and every engine does): for every frame
        # (``minimal_lengths``) or for control frames only, whose length its
        # library reads from the 7-bit field (``minimal_control_lengths``).
        self._minimal_all = bool(getattr(conn, "minimal_lengths", False))
        self._minimal_control = self._minimal_all or bool(
            getattr(conn, "minimal_control_lengths", False)
        )
        self._max_frame = UNLIMITED if max_frame_size is None else max_frame_size
        self._max_message = UNLIMITED if max_message_size is None else max_message_size
        # An unfragmented data frame is a frame and a message: one comparison.
        self._max_data = min(self._max_frame, self._max_message)
        self._rsv1_allowed = deflate is not None
        self._asm = MessageAssembler(deflate)
        self._error: ProtocolError | None = None
        # Header-time state (ahead of the assembler, which sees frames only
        # once the engine completes them): the fragmented message's size.
        self._in_message = False
        self._message_size = 0
        # Payload bytes of the frame still arriving, its first header byte,
        # and an incomplete header held back from the engine.
        self._skip = 0
        self._b0 = 0
        self._held = b""

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes) -> list[EngineEvent]:
        """Bytes from the socket → the events they complete.

        Raises :class:`~openwire.errors.ProtocolError` (with the close code)
        when the server breaks the protocol; events completed before the
        violation ride on ``error.events``. Later calls raise it again.
        """
        if self._error is not None:
            raise self._error.repeat()
        events: list[EngineEvent] = []
        try:
            if self._held:
                data = self._held + data
                self._held = b""
            end = len(data)
            pos = self._skip
            b0 = self._b0
            start = 0
            error: ProtocolError | None = None
            max_data = self._max_data
            in_message = self._in_message
            minimal_all = self._minimal_all
            while pos < end:
                if end - pos < 2:
                    break
                b0 = data[pos]
                b1 = data[pos + 1]
                length = b1 & 0x7F
                header = 2
                if length == 126:
                    if end - pos < 4:
                        break
                    length = _U16.unpack_from(data, pos + 2)[0]
                    header = 4
                elif length == 127:
                    if end - pos < 10:
                        break
                    length = _U64.unpack_from(data, pos + 2)[0]
                    header = 10
                if (
                    b1 & 0x80
                    or length > max_data
                    or in_message
                    or (b0 != 0x81 and b0 != 0x82)
                    or (minimal_all and header > 2 and length < _LONGEST[header])
                ):
                    error = self._check(b0, b1, length)
                    if error is not None:
                        break
                    in_message = self._in_message
                    if (
                        header > 2
                        and length < _LONGEST[header]
                        and (minimal_all or (b0 & 0x08 and self._minimal_control))
                    ):
                        minimal = _minimal_header(b0, length)
                        data = data[:pos] + minimal + data[pos + header :]
                        end = len(data)
                        header = len(minimal)
                start = pos + header
                pos = start + length
            if error is not None or pos < end:
                if error is None:
                    self._held = data[pos:]
                feed = data[:pos]
                pos = end
            else:
                feed = data
            self._skip = pos - end
            try:
                frames = self._parse(feed) if feed else []
            except ProtocolError as refusal:
                # The library refused something the rules allow (wsproto: a
                # non-minimal length); the frames it completed first come first.
                frames, error = refusal.events, refusal
                refusal.events = []
            if frames:
                asm = self._asm
                append = events.append
                for opcode, fin, rsv1, payload in frames:
                    if opcode == 1 and fin and not rsv1 and not asm.opcode:
                        try:
                            append(_new(Message, (payload.decode("utf-8"), _TEXT)))
                        except UnicodeDecodeError as exc:
                            raise utf8_error(exc) from None
                    elif opcode == 2 and fin and not rsv1 and not asm.opcode:
                        append(_new(Message, (payload, _BINARY)))
                    elif opcode == 9:
                        append(_new(Ping, (payload, _PING)))
                    elif opcode == 10:
                        append(_new(Pong, (payload, _PONG)))
                    elif opcode == 8:
                        append(_new(Close, (payload, _CLOSE)))
                    else:
                        message = asm.frame(opcode, fin, rsv1, payload)
                        if message is not None:
                            append(message)
            if error is not None:
                raise error
            if self._skip:
                self._b0 = b0
                if start < end and self._asm.wants_partial(b0):
                    chunk = self._asm.partial(b0 & 0x0F, bool(b0 & 0x40), data[start:])
                    if chunk is not None:
                        events.append(chunk)
            return events
        except ProtocolError as exc:
            exc.events = events
            self._error = exc
            raise

    def _check(self, b0: int, b1: int, length: int) -> ProtocolError | None:
        """Apply :func:`header_error`, then advance the header-time message state."""
        error = header_error(
            b0,
            b1,
            length,
            self._in_message,
            self._message_size,
            self._max_frame,
            self._max_message,
            self._rsv1_allowed,
        )
        if error is not None or b0 & 0x08:
            return error
        if b0 & 0x80:
            self._in_message = False
            self._message_size = 0
        else:
            self._in_message = True
            self._message_size = self._message_size + length if b0 & 0x0F == 0 else length
        return None

    def stream_messages(self, max_stream_size: int | None) -> None:
        """Hand data messages out as :class:`~openwire.protocol.messages.Chunk` events.

        The streaming receive: ``max_stream_size`` (``None``: unlimited)
        replaces ``max_message_size`` in the header rules and bounds a
        compressed message once inflated; ``max_frame_size`` still bounds
        every frame (the engine completes frames whole). The session applies
        ``max_message_size`` to the messages it assembles itself.
        """
        self._max_message = UNLIMITED if max_stream_size is None else max_stream_size
        self._max_data = min(self._max_frame, self._max_message)
        self._asm.stream_chunks(self._max_frame, max_stream_size)

    # ----------------------------------------------------------------- output

    def encode_message(self, data: str | bytes, compress: bool | None = None) -> bytes:
        """A text (``str``) or binary (``bytes``) message as one masked frame.

        ``compress`` is ignored: without permessage-deflate negotiated every
        message goes uncompressed (:class:`DeflateFrameReader` honours it).
        """
        if isinstance(data, str):
            return self._encode(1, data.encode("utf-8"))
        return self._encode(2, data)

    def encode_fragment(self, opcode: int, payload: bytes, fin: bool) -> bytes:
        """One uncompressed frame of a message sent in pieces (opcode 0 after the first)."""
        return self._encode(opcode, payload, fin)

    def encode_ping(self, payload: bytes) -> bytes:
        return self._encode(9, payload)

    def encode_pong(self, payload: bytes) -> bytes:
        return self._encode(10, payload)

    def encode_close(self, code: int | None, reason: str) -> bytes:
        """A Close frame; ``None`` sends an empty payload (RFC 6455 §5.5.1)."""
        return self._encode(8, build_close_payload(code, reason))


class DeflateFrameReader(FrameReader):
    """The reader once permessage-deflate is negotiated: it also compresses what it sends.

    A subclass rather than a branch in :meth:`FrameReader.encode_message`, so
    a connection without the extension does not test for it on every send.
    """

    __slots__ = ("_deflate",)

    def __init__(
        self,
        conn: FrameParser,
        max_frame_size: int | None,
        max_message_size: int | None,
        deflate: PerMessageDeflate,
    ) -> None:
        super().__init__(conn, max_frame_size, max_message_size, deflate)
        self._deflate = deflate

    def encode_message(self, data: str | bytes, compress: bool | None = None) -> bytes:
        """A data message, compressed with RSV1 set unless it stays plain (RFC 7692 §6).

        ``compress``: ``None`` compresses from the policy's ``min_size`` up,
        ``False`` never, ``True`` whatever the size (when the window allows).
        """
        if isinstance(data, str):
            opcode, payload = 1, data.encode("utf-8")
        else:
            opcode, payload = 2, data
        deflate = self._deflate
        if deflate.should_compress(len(payload), compress):
            return self._encode(opcode, deflate.compress(payload), True, True)
        return self._encode(opcode, payload)
