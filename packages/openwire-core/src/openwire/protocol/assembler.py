"""Frames to messages: reassembly, incremental UTF-8, bounded inflate (RFC 6455 §5.4; RFC 7692).

Rules of this module: everything that happens to a data message's payload
between "its frames have passed the header rules" and "it is a
:class:`~openwire.protocol.messages.Message`" lives here, once, for every
engine. The header rules (``gate.header_error``) have already decided that
the frames come in a legal order and within the size limits, so nothing here
re-checks fragmentation or announced lengths; what is left is what only the
payload can tell:

- text must be UTF-8 (§5.6, §8.1), checked *incrementally*, so invalid text
  fails with 1007 as soon as it is certain: in a fragment, and inside a frame
  whose payload is still arriving (:meth:`MessageAssembler.partial`);
- a compressed message (RSV1 on its first frame, RFC 7692 §6) is inflated
  frame by frame, bounded by ``max_message_size``
  (:class:`~openwire.protocol.deflate.PerMessageDeflate`), and invalid deflate
  data is 1007.

Theory of operation. Two entry points, called in stream order::

    partial(opcode, rsv1, chunk)        # payload bytes of a frame still arriving
    frame(opcode, fin, rsv1, payload)   # a complete data frame -> Message | None

``partial`` may be called any number of times for the frame at the end of
the stream; ``frame`` then receives that frame's *whole* payload and skips
the bytes already decoded. Whole unfragmented frames never need this class:
the native codec and the core reader decode them inline (one
``bytes.decode``), and call here only for fragments, compressed frames and
frames that arrive in pieces.

Streaming receive (:meth:`MessageAssembler.stream_chunks`). Instead of
assembling, every piece of a data message that reaches this class leaves as
a :class:`~openwire.protocol.messages.Chunk` as soon as it is decoded: the
partial payloads of a frame still arriving (binary ones too), fragments, and
each compressed frame once inflated. Nothing of the message is kept, so its
size is bounded only by ``max_stream_size``; what a piece may cost is bounded
per frame (``max_frame_size``, which also bounds a compressed frame's
inflated size in this mode). A parser that does not keep a streamed frame
either (the native codec) ends it with :meth:`MessageAssembler.frame_rest`,
passing only the bytes not yet shown.
"""

from __future__ import annotations

import codecs

from openwire.errors import PayloadTooBig, ProtocolError
from openwire.protocol.deflate import PerMessageDeflate
from openwire.protocol.frames import CloseCode, Opcode
from openwire.protocol.messages import Chunk, Message

__all__ = ["MessageAssembler", "utf8_error"]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY


def utf8_error(exc: UnicodeDecodeError) -> ProtocolError:
    """The 1007 every engine reports for text that is not UTF-8."""
    return ProtocolError(
        f"received a text message that is not valid UTF-8 ({exc.reason}); "
        "text frames must carry UTF-8 (RFC 6455 §5.6, §8.1)",
        close_code=CloseCode.INVALID_FRAME_PAYLOAD_DATA,
    )


# Placeholders between messages; never appended to (``_begin`` replaces them).
_NOT_BEGUN_PARTS: list[bytes] = []
_NOT_BEGUN_TEXT: list[str] = []


class MessageAssembler:
    """One connection's data message in progress.

    ``opcode`` is the message's opcode (0 when none is in progress) and
    ``size`` its wire bytes so far: the header rules need both for the next
    frame (§5.4 ordering, ``max_message_size`` across fragments). ``began``
    is true while the message's *first* frame is still arriving: a parser
    that re-reads that frame's header once it is complete must not take it
    for a second message.
    """

    __slots__ = (
        "_chunks",
        "_compressed",
        "_decoder",
        "_deflate",
        "_frame_limit",
        "_inflated",
        "_open",
        "_parts",
        "_seen",
        "_stream_limit",
        "_text",
        "began",
        "opcode",
        "size",
    )

    def __init__(self, deflate: PerMessageDeflate | None = None) -> None:
        self._deflate = deflate
        self.opcode = 0
        self.size = 0
        self._compressed = False
        self._decoder: codecs.IncrementalDecoder | None = None
        # Allocated when a message begins, not per connection: most
        # connections are idle, and most messages never come here.
        self._parts: list[bytes] = _NOT_BEGUN_PARTS
        self._text: list[str] = _NOT_BEGUN_TEXT
        # The frame at the end of the stream has begun arriving (partial),
        # and how many of its payload bytes were decoded then.
        self._open = False
        self._seen = 0
        self.began = False
        # Streaming receive (stream_chunks): off until asked for.
        self._chunks = False
        self._frame_limit = 0
        self._stream_limit: int | None = None
        self._inflated = 0

    def stream_chunks(self, max_frame_size: int, max_stream_size: int | None) -> None:
        """Hand data messages out as :class:`Chunk` events instead of assembling them.

        ``max_frame_size`` bounds each compressed frame once inflated,
        ``max_stream_size`` (``None``: unlimited) a compressed message's
        inflated total; the header rules bound the wire sizes.
        """
        self._chunks = True
        # zlib takes a Py_ssize_t: an "unlimited" frame size is clamped.
        self._frame_limit = min(max_frame_size, 1 << 62)
        self._stream_limit = max_stream_size

    @property
    def streaming(self) -> bool:
        """Whether data messages leave as :class:`Chunk` events (:meth:`stream_chunks`)."""
        return self._chunks

    def _begin(self, opcode: int, rsv1: bool) -> None:
        self.opcode = opcode
        self.size = 0
        if self._chunks:
            self._inflated = 0
        elif opcode == 1:
            self._text = []
        else:
            self._parts = []
        self._compressed = rsv1
        self._decoder = _Utf8Decoder() if opcode == 1 else None

    def wants_partial(self, b0: int) -> bool:
        """Would the partial payload of the frame with first header byte ``b0`` tell anything?

        Only uncompressed text can fail before its frame is complete; binary
        and compressed payloads are left to the parser, so a large frame is
        not sliced once more per chunk for nothing. A streaming receive also
        wants uncompressed binary: that is what it hands out.
        """
        opcode = b0 & 0x0F
        if opcode == 1:
            return not b0 & 0x40
        if opcode == 2:
            return self._chunks and not b0 & 0x40
        return (
            opcode == 0
            and self.opcode != 0
            and not self._compressed
            and (self._chunks or self._decoder is not None)
        )

    def partial(self, opcode: int, rsv1: bool, chunk: bytes) -> Chunk | None:
        """Payload bytes of the data frame still arriving; a :class:`Chunk` when streaming.

        Uncompressed text is decoded now, so invalid UTF-8 fails before the
        frame is complete. Compressed payloads wait for their frame: inflating
        a piece would not tell more (UTF-8 is checked on the inflated bytes).
        """
        if not self._open:
            self._open = True
            if opcode:
                self._begin(opcode, rsv1)
                self.began = True
        decoder = self._decoder
        if self._chunks:
            if self._compressed or not chunk:
                return None
            self._seen += len(chunk)
            if decoder is None:
                return Chunk(chunk, False)
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise utf8_error(exc) from None
            return Chunk(text, False) if text else None
        if decoder is None or self._compressed or not chunk:
            return None
        try:
            self._text.append(decoder.decode(chunk))
        except UnicodeDecodeError as exc:
            raise utf8_error(exc) from None
        self._seen += len(chunk)
        return None

    def frame(self, opcode: int, fin: bool, rsv1: bool, payload: bytes) -> Message | Chunk | None:
        """A complete data frame; the message once its last frame (FIN) is in.

        When streaming, the frame's bytes not yet shown, as a :class:`Chunk`
        (``None`` for nothing new before the last frame).
        """
        if self._open:
            self._open = False
            self.began = False
            seen = self._seen
            self._seen = 0
        else:
            seen = 0
            if opcode:
                self._begin(opcode, rsv1)
        self.size += len(payload)
        if self._chunks:
            return self._chunk(payload[seen:] if seen else payload, fin)
        decoder = self._decoder
        try:
            if self._compressed:
                assert self._deflate is not None
                data = self._deflate.decompress(payload, fin)
                if decoder is None:
                    self._parts.append(data)
                else:
                    self._text.append(decoder.decode(data, fin))
            elif decoder is not None:
                self._text.append(decoder.decode(payload[seen:] if seen else payload, fin))
            else:
                self._parts.append(payload)
        except UnicodeDecodeError as exc:
            raise utf8_error(exc) from None
        if not fin:
            return None
        if decoder is not None:
            text = self._text
            message = Message(text[0] if len(text) == 1 else "".join(text), _TEXT)
            self._text = _NOT_BEGUN_TEXT
        else:
            parts = self._parts
            message = Message(parts[0] if len(parts) == 1 else b"".join(parts), _BINARY)
            self._parts = _NOT_BEGUN_PARTS
        self.opcode = 0
        self.size = 0
        self._compressed = False
        self._decoder = None
        return message

    def frame_rest(self, fin: bool, rest: bytes) -> Chunk | None:
        """The end of a streamed frame whose earlier bytes went through :meth:`partial`.

        For a parser that does not keep the frame (the native codec): ``rest``
        is only the payload not yet shown, so no frame is ever held whole.
        """
        self._open = False
        self.began = False
        self.size += self._seen + len(rest)
        self._seen = 0
        return self._chunk(rest, fin)

    def _chunk(self, data: bytes, fin: bool) -> Chunk | None:
        """Decode (inflate, then UTF-8) one streamed piece; the message ends on ``fin``."""
        decoder = self._decoder
        out: str | bytes
        try:
            if self._compressed:
                data = self._inflate(data, fin)
            out = data if decoder is None else decoder.decode(data, fin)
        except UnicodeDecodeError as exc:
            raise utf8_error(exc) from None
        if not fin:
            return Chunk(out, False) if out else None
        self.opcode = 0
        self.size = 0
        self._compressed = False
        self._decoder = None
        return Chunk(out, True)

    def _inflate(self, payload: bytes, fin: bool) -> bytes:
        """One compressed frame, inflated whole but bounded by the frame and stream limits."""
        assert self._deflate is not None
        bound = self._frame_limit
        limit = self._stream_limit
        if limit is not None and limit - self._inflated < bound:
            bound = limit - self._inflated
        try:
            data = self._deflate.decompress(payload, fin, bound)
        except PayloadTooBig:
            if bound == self._frame_limit:
                raise PayloadTooBig(
                    f"received a compressed frame that inflates past max_frame_size "
                    f"({self._frame_limit} bytes); a streaming receive inflates a frame "
                    "whole, so max_frame_size bounds it (RFC 6455 §10.4)"
                ) from None
            raise PayloadTooBig(
                f"received a compressed message that inflates past max_stream_size "
                f"({limit} bytes); stopped inflating there (RFC 6455 §10.4)"
            ) from None
        self._inflated += len(data)
        return data
