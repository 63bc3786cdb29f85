"""An independent model of what a client must do with the bytes a server sends.

It reads RFC 6455 (and RFC 7692 permessage-deflate) straight from the page and
shares no code with openwire's codecs, gate or session: the fuzz tests check
every engine against it, so a rule written wrongly in the shared code cannot
hide behind the same mistake in the oracle. It only needs the standard
library (``zlib`` is the DEFLATE reference).

The model reads a byte stream the way a receiver does, frame after frame,
and stops at the first of:

- a Close frame: the connection closes with the peer's code (1005 for an
  empty payload) and the client echoes it (RFC 6455 §5.5.1);
- a violation: the client fails the connection (§7.1.7) and sends a Close
  with 1002 (protocol error), 1007 (invalid data) or 1009 (too big);
- the end of the bytes: the server then ends TCP, so the connection is lost
  with 1006 and no Close is sent (§7.1.5).

Decisions where the RFCs leave room, stated once:

- *Order of header rules.* A header that breaks several rules gets the code
  of the first in this order: RSV bits (§5.2; RFC 7692 §6), mask bit (§5.1),
  reserved opcode (§5.2), 64-bit length with the top bit set (§5.2),
  fragmented or over-125-byte control frame (§5.5), ``max_frame_size``
  (§10.4), continuation with no message or new data frame inside one
  (§5.4), ``max_message_size`` (§10.4). Only the header is needed: limits are
  checked from the announced length, before any payload.
- *Non-minimal length encodings.* §5.2 says a sender MUST use the minimal
  encoding but tells the receiver nothing; both accepting and failing with
  1002 are conformant, so the policy is a parameter (``reject_non_minimal``),
  checked after every other header rule. Such a receiver knows from the
  first two bytes that a control frame announcing a 126/127 length is wrong.
- *Close codes* that may appear in a Close frame: 1000-1003 and 1007-1011
  (§7.4.1), 1012-1014 (registered since in the IANA registry, §11.7), and
  3000-4999 (§7.4.2). 1004-1006, 1015, 1016-2999 and anything outside
  1000-4999 are a protocol error (1002). A code is checked before its reason.
- *Limits on compressed messages.* Frame and message limits apply to the
  announced (compressed) lengths from the header, and ``max_message_size``
  also to the inflated message (RFC 7692 §8.1, RFC 6455 §10.4).
- *A DEFLATE stream ended with BFINAL* (RFC 7692 §7.2.3.4) cannot be
  continued: the next compressed message starts a new stream and window.
  Bytes after the final block of a message are ignored, as DEFLATE does.
- *UTF-8* is checked in stream order, frame by frame: a complete frame whose
  bytes cannot begin valid UTF-8 fails at once, even inside a fragmented
  message (§8.1 "as soon as"). A frame that has not fully arrived is judged
  only once it has; ``partial_failure`` records when an engine that checks
  while a frame arrives would legitimately fail earlier.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["Ending", "Limits", "Outcome", "Utf8Validator", "predict"]

PROTOCOL_ERROR = 1002
INVALID_DATA = 1007
TOO_BIG = 1009
NO_STATUS = 1005
ABNORMAL = 1006

# RFC 7692 §7.2.2: the receiver appends the empty stored block's tail.
_TAIL = b"\x00\x00\xff\xff"

_SENDABLE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)


def closable(code: int) -> bool:
    """May ``code`` travel in a Close frame (RFC 6455 §7.4, IANA registry)?"""
    return code in _SENDABLE_CODES or 3000 <= code <= 4999


class Utf8Validator:
    """RFC 3629 §4's byte-sequence table as a streaming check (no codec involved).

    ``feed`` answers "can these bytes still be the start of valid UTF-8?";
    ``complete`` says the bytes so far end on a character boundary.
    """

    __slots__ = ("_high", "_low", "_need")

    def __init__(self) -> None:
        self._need = 0
        self._low = 0x80
        self._high = 0xBF

    @property
    def complete(self) -> bool:
        return self._need == 0

    def copy(self) -> Utf8Validator:
        twin = Utf8Validator()
        twin._need, twin._low, twin._high = self._need, self._low, self._high
        return twin

    def feed(self, data: bytes) -> bool:
        if self._need == 0 and data.isascii():
            return True
        for byte in data:
            if self._need:
                if not self._low <= byte <= self._high:
                    return False
                self._need -= 1
                self._low, self._high = 0x80, 0xBF
            elif byte < 0x80:
                continue
            elif 0xC2 <= byte <= 0xDF:
                self._need = 1
            elif byte == 0xE0:
                self._need, self._low = 2, 0xA0  # no overlong 3-byte forms
            elif 0xE1 <= byte <= 0xEC or 0xEE <= byte <= 0xEF:
                self._need = 2
            elif byte == 0xED:
                self._need, self._high = 2, 0x9F  # no surrogates
            elif byte == 0xF0:
                self._need, self._low = 3, 0x90  # no overlong 4-byte forms
            elif 0xF1 <= byte <= 0xF3:
                self._need = 3
            elif byte == 0xF4:
                self._need, self._high = 3, 0x8F  # nothing above U+10FFFF
            else:
                return False
        return True


@dataclass(frozen=True)
class Limits:
    """``max_frame_size`` and ``max_message_size`` of the connection under test."""

    max_frame: int
    max_message: int


class Ending(Enum):
    CLOSE = "the peer's Close frame closed the connection"
    FAIL = "the client failed the connection"
    EOF = "the bytes ended without a Close: TCP ends, 1006"


@dataclass
class Outcome:
    """What the user and the server must observe for one byte stream."""

    ending: Ending = Ending.EOF
    # (opcode, data) of each message the user receives, in order: 1 text, 2 binary.
    messages: list[tuple[int, str | bytes]] = field(default_factory=list)
    # Payloads of the pings the client must answer with a pong, in order.
    pings: list[bytes] = field(default_factory=list)
    # CLOSE: the peer's code (1005 for an empty Close) and reason.
    # FAIL: the acceptable codes (one, unless the order is genuinely open).
    codes: frozenset[int] = frozenset({ABNORMAL})
    reason: str = ""
    # Why the connection failed, for test reports.
    why: str = ""
    # An engine that checks a frame while it arrives may fail earlier than
    # this outcome, which judges only complete frames: with which code.
    partial_failure: int | None = None

    @property
    def code(self) -> int:
        """The single code of a CLOSE or EOF ending."""
        (code,) = self.codes
        return code


class _Failed(Exception):
    def __init__(self, codes: int | frozenset[int], why: str) -> None:
        super().__init__(why)
        self.codes = frozenset({codes}) if isinstance(codes, int) else codes
        self.why = why


class _Inflater:
    """The receiving half of RFC 7692 §7.2.2, bounded by ``max_message_size``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._stream: zlib._Decompress | None = None
        self.size = 0

    def inflate(self, payload: bytes, final: bool, text: Utf8Validator | None) -> bytes:
        stream = self._stream
        if stream is None:
            stream = self._stream = zlib.decompressobj(wbits=-15)
        room = self._limit - self.size
        data = payload + _TAIL if final else payload
        try:
            out = stream.decompress(data, room + 1)
        except zlib.error as exc:
            raise _Failed(INVALID_DATA, f"not DEFLATE data: {exc}") from None
        if len(out) > room:
            codes: int | frozenset[int] = TOO_BIG
            if text is not None and not text.feed(out[:room]):
                # Invalid text and too much of it in one frame: which one an
                # engine sees first depends on how much it inflates at a time.
                codes = frozenset({TOO_BIG, INVALID_DATA})
            raise _Failed(codes, "inflates past max_message_size")
        self.size += len(out)
        if final:
            self.size = 0
            if stream.eof:
                # BFINAL ended the stream: the next message starts a new one.
                self._stream = None
        return out

    def would_fail(self, partial: bytes, text: Utf8Validator | None) -> int | None:
        """The code inflating this part of a frame already earns, if any (no state change)."""
        probe = zlib.decompressobj(wbits=-15) if self._stream is None else self._stream.copy()
        room = self._limit - self.size
        try:
            out = probe.decompress(partial, room + 1)
        except zlib.error:
            return INVALID_DATA
        if len(out) > room:
            return TOO_BIG
        if text is not None and not text.copy().feed(out):
            return INVALID_DATA
        return None


def predict(
    data: bytes,
    limits: Limits,
    *,
    deflate: bool = False,
    reject_non_minimal: bool = False,
) -> Outcome:
    """The outcome of a server sending ``data`` after the 101, then ending TCP if still open."""
    outcome = Outcome()
    try:
        _read(data, limits, deflate, reject_non_minimal, outcome)
    except _Failed as failed:
        outcome.ending = Ending.FAIL
        outcome.codes = failed.codes
        outcome.why = failed.why
    return outcome


def _read(
    data: bytes, limits: Limits, deflate: bool, reject_non_minimal: bool, outcome: Outcome
) -> None:
    pos = 0
    end = len(data)
    # The fragmented data message in progress (§5.4): its opcode (0: none).
    message_opcode = 0
    message_wire_size = 0
    message_compressed = False
    message_parts: list[bytes] = []
    text: Utf8Validator | None = None
    inflater = _Inflater(limits.max_message)
    while True:
        if end - pos < 2:
            return  # the stream ends between frames or inside a 2-byte header
        b0, b1 = data[pos], data[pos + 1]
        fin = bool(b0 & 0x80)
        rsv = (b0 >> 4) & 0x7
        opcode = b0 & 0xF
        masked = bool(b1 & 0x80)
        length = b1 & 0x7F
        header = 2
        if length == 126:
            header = 4
        elif length == 127:
            header = 10
        if end - pos < header:
            if reject_non_minimal and opcode >= 0x8 and header > 2:
                # A control frame's 7-bit field says 126 or 127: over 125 bytes
                # or not minimal, a 1002 either way, known from two bytes to a
                # receiver that looks; one that waits for the whole header
                # sees the stream end first. Both are conformant.
                outcome.partial_failure = PROTOCOL_ERROR
            return  # the extended length has not arrived
        if header == 4:
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        elif header == 10:
            length = int.from_bytes(data[pos + 2 : pos + 10], "big")
        control = opcode >= 0x8

        # ---- the header alone (see the module docstring for the order)
        if rsv:
            if not deflate:
                raise _Failed(PROTOCOL_ERROR, "RSV bits without an extension (§5.2)")
            if rsv != 0b100:
                raise _Failed(PROTOCOL_ERROR, "RSV2/RSV3 set (RFC 7692 §6)")
            if control or opcode == 0:
                raise _Failed(PROTOCOL_ERROR, "RSV1 on a control or continuation frame (7692 §6)")
        if masked:
            raise _Failed(PROTOCOL_ERROR, "a masked server frame (§5.1)")
        if opcode not in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA):
            raise _Failed(PROTOCOL_ERROR, f"reserved opcode {opcode:#x} (§5.2)")
        if header == 10 and length >> 63:
            raise _Failed(PROTOCOL_ERROR, "64-bit length with the top bit set (§5.2)")
        if control and not fin:
            raise _Failed(PROTOCOL_ERROR, "a fragmented control frame (§5.5)")
        if control and length > 125:
            raise _Failed(PROTOCOL_ERROR, "a control frame over 125 bytes (§5.5)")
        if length > limits.max_frame:
            raise _Failed(TOO_BIG, "a frame over max_frame_size (§10.4)")
        if not control:
            if opcode == 0 and not message_opcode:
                raise _Failed(PROTOCOL_ERROR, "a continuation with no message open (§5.4)")
            if opcode != 0 and message_opcode:
                raise _Failed(PROTOCOL_ERROR, "a new data frame inside a message (§5.4)")
            wire = (message_wire_size if opcode == 0 else 0) + length
            if wire > limits.max_message:
                raise _Failed(TOO_BIG, "a message over max_message_size (§10.4)")
        if reject_non_minimal and (
            (header == 4 and length < 126) or (header == 10 and length < 65536)
        ):
            raise _Failed(PROTOCOL_ERROR, "a non-minimal length encoding (§5.2)")

        # ---- the payload
        start = pos + header
        stop = start + length
        if not control and opcode != 0:
            message_opcode = opcode
            message_wire_size = 0
            message_compressed = bool(rsv)
            message_parts = []
            text = Utf8Validator() if opcode == 1 else None
        if stop > end:
            # The stream ends inside this payload: only an early check could tell.
            partial = data[start:end]
            if not control and message_compressed:
                outcome.partial_failure = inflater.would_fail(partial, text)
            elif not control and text is not None and not text.copy().feed(partial):
                outcome.partial_failure = INVALID_DATA
            return
        payload = data[start:stop]
        pos = stop
        if opcode == 0x9:
            outcome.pings.append(payload)
        elif opcode == 0xA:
            pass  # an unsolicited pong is allowed and ignored (§5.5.3)
        elif opcode == 0x8:
            _close(payload, outcome)
            return
        else:
            message_wire_size += length
            piece = inflater.inflate(payload, fin, text) if message_compressed else payload
            if text is not None and not text.feed(piece):
                raise _Failed(INVALID_DATA, "invalid UTF-8 in a text message (§8.1)")
            message_parts.append(piece)
            if fin:
                if text is not None and not text.complete:
                    raise _Failed(INVALID_DATA, "a text message ends inside a character (§8.1)")
                whole = b"".join(message_parts)
                outcome.messages.append(
                    (1, whole.decode("utf-8")) if message_opcode == 1 else (2, whole)
                )
                message_opcode = 0
                message_parts = []
                text = None


def _close(payload: bytes, outcome: Outcome) -> None:
    """RFC 6455 §5.5.1 and §7.4: what a Close payload may be."""
    if not payload:
        outcome.ending = Ending.CLOSE
        outcome.codes = frozenset({NO_STATUS})
        return
    if len(payload) == 1:
        raise _Failed(PROTOCOL_ERROR, "a 1-byte Close payload (§5.5.1)")
    code = int.from_bytes(payload[:2], "big")
    if not closable(code):
        raise _Failed(PROTOCOL_ERROR, f"close code {code} may not be sent (§7.4)")
    reason = payload[2:]
    checker = Utf8Validator()
    if not (checker.feed(reason) and checker.complete):
        raise _Failed(INVALID_DATA, "a close reason that is not UTF-8 (§5.5.1)")
    outcome.ending = Ending.CLOSE
    outcome.codes = frozenset({code})
    outcome.reason = reason.decode("utf-8")
