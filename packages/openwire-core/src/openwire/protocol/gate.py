"""Frame-header rules (RFC 6455 §5.2-5.5, §10.4; RFC 7692 §6), and a gate that applies them early.

:func:`header_error` is the single statement of the rules a client applies to
a server frame header; the native codec calls it, and so does
:class:`HeaderGate`. Engines that wrap a library which checks some of these
rules only after a payload arrived (or has no message limit at all) run the
gate over the byte stream first: it reads only headers and skips payloads
arithmetically, so a violation or an oversize announcement is reported from
the header alone, with the same close code and at the same moment as the
native engine, before any of that payload is fed to the library.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct
from typing import TYPE_CHECKING

from openwire.errors import PayloadTooBig, ProtocolError
from openwire.protocol.frames import Opcode

if TYPE_CHECKING:
    from openwire.engines.contract import EngineEvent

__all__ = ["HeaderGate", "header_error", "receive_through_gate"]

_U16 = Struct("!H")
_U64 = Struct("!Q")
_KNOWN_OPCODES = frozenset(int(op) for op in Opcode)


class HeaderGate:
    """Tracks frame boundaries and fragmentation; rejects bad headers.

    ``max_frame_size`` / ``max_message_size`` (``None`` = unlimited) bound
    every frame and every data message, including an unfragmented one;
    ``rsv1_allowed`` is for an engine that negotiated permessage-deflate.
    """

    __slots__ = (
        "_head",
        "_in_message",
        "_max_frame",
        "_max_message",
        "_message_size",
        "_rsv1_allowed",
        "_skip",
    )

    def __init__(
        self,
        max_frame_size: int | None,
        max_message_size: int | None,
        rsv1_allowed: bool = False,
    ) -> None:
        self._max_frame = max_frame_size
        self._max_message = max_message_size
        self._rsv1_allowed = rsv1_allowed
        # Payload bytes of the current frame still to pass before a header.
        self._skip = 0
        # The start of a header that a read boundary cut in two.
        self._head = b""
        self._in_message = False
        self._message_size = 0

    def scan(self, data: bytes) -> tuple[int, ProtocolError] | None:
        """Vet the headers in ``data``.

        Returns ``None`` when all of ``data`` may go to the parser, else the
        offset of the offending header and the error to raise once the bytes
        before it have been parsed (so an earlier frame's own error, such as
        invalid UTF-8, still wins, as it would with the native engine).
        """
        pos = 0
        end = len(data)
        while True:
            if self._skip:
                if self._skip >= end - pos:
                    self._skip -= end - pos
                    return None
                pos += self._skip
                self._skip = 0
            if pos >= end:
                return None
            carried = len(self._head)
            if carried:
                buf = self._head + data[pos : pos + 10]
                start = 0
            else:
                buf = data
                start = pos
            avail = len(buf) - start
            size = 2
            if avail >= 2:
                short = buf[start + 1] & 0x7F
                if short == 126:
                    size = 4
                elif short == 127:
                    size = 10
            if avail < size:
                self._head = bytes(buf[start:])
                return None
            b0 = buf[start]
            b1 = buf[start + 1]
            if size == 2:
                length = b1 & 0x7F
            elif size == 4:
                length = _U16.unpack_from(buf, start + 2)[0]
            else:
                length = _U64.unpack_from(buf, start + 2)[0]
            error = self._check(b0, b1, length)
            if error is not None:
                return max(pos - carried, 0), error
            self._head = b""
            pos += size - carried
            self._skip = length

    def _check(self, b0: int, b1: int, length: int) -> ProtocolError | None:
        """Apply :func:`header_error`, then advance the message state."""
        opcode = b0 & 0x0F
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
        if error is not None or opcode >= 8:
            return error
        size = self._message_size + length if opcode == 0 else length
        if b0 & 0x80:
            self._in_message = False
            self._message_size = 0
        else:
            self._in_message = True
            self._message_size = size
        return None


def header_error(
    b0: int,
    b1: int,
    length: int,
    in_message: bool,
    message_size: int,
    max_frame: int | None,
    max_message: int | None,
    rsv1_allowed: bool = False,
) -> ProtocolError | None:
    """The error a server frame header earns, or ``None`` if it is acceptable.

    ``b0``/``b1`` are the first two header bytes, ``length`` the decoded
    payload length, ``in_message``/``message_size`` the fragmented message in
    progress. ``rsv1_allowed`` is true once permessage-deflate is negotiated:
    RSV1 then marks a compressed message, on its first frame only. Checked in
    a fixed order so every engine reports the same error.
    """
    opcode = b0 & 0x0F
    if b0 & 0x70:
        error = _rsv_error(b0, opcode, rsv1_allowed)
        if error is not None:
            return error
    if b1 & 0x80:
        return ProtocolError(
            "received a masked frame; a server must not mask frames it sends to "
            "a client (RFC 6455 §5.1)"
        )
    if opcode not in _KNOWN_OPCODES:
        return ProtocolError(
            f"received reserved opcode {opcode:#x}; expected 0x0-0x2 or 0x8-0xA (RFC 6455 §5.2)"
        )
    if length >> 63:
        return ProtocolError(
            "received a 64-bit payload length with the most significant bit set (RFC 6455 §5.2)"
        )
    if opcode >= 8:
        if not b0 & 0x80:
            return ProtocolError(
                f"received a fragmented {Opcode(opcode).name} frame; control frames "
                "must not be fragmented (RFC 6455 §5.5)"
            )
        if length > 125:
            return ProtocolError(
                f"received a {Opcode(opcode).name} frame with a {length}-byte payload; "
                "control frames carry at most 125 bytes (RFC 6455 §5.5)"
            )
    if max_frame is not None and length > max_frame:
        return PayloadTooBig(
            f"received a frame header announcing {length} bytes; max_frame_size "
            f"is {max_frame} (raise it if the peer legitimately sends more)"
        )
    if opcode >= 8:
        return None
    if opcode == 0:
        if not in_message:
            return ProtocolError(
                "received a continuation frame with no message in progress; expected "
                "a text or binary frame first (RFC 6455 §5.4)"
            )
        size = message_size + length
    else:
        if in_message:
            return ProtocolError(
                f"received a new {Opcode(opcode).name} frame while a fragmented message "
                "is in progress; expected a continuation frame (RFC 6455 §5.4)"
            )
        size = length
    if max_message is not None and size > max_message:
        return PayloadTooBig(
            f"received a message of at least {size} bytes; max_message_size is "
            f"{max_message} (raise it if the peer legitimately sends more)"
        )
    return None


def _rsv_error(b0: int, opcode: int, rsv1_allowed: bool) -> ProtocolError | None:
    """RSV bits mean nothing unless an extension defines them (RFC 6455 §5.2)."""
    if not rsv1_allowed:
        return ProtocolError(
            f"received a frame with RSV bits {(b0 >> 4) & 7:03b} set; no extension "
            "was negotiated, so they must be 0 (RFC 6455 §5.2)"
        )
    if b0 & 0x30:
        return ProtocolError(
            f"received a frame with RSV bits {(b0 >> 4) & 7:03b} set; permessage-deflate "
            "defines RSV1 only, so RSV2 and RSV3 must be 0 (RFC 6455 §5.2, RFC 7692 §6)"
        )
    if opcode == 0 or opcode >= 8:
        kind = "continuation" if opcode == 0 else f"{_name(opcode)} control"
        return ProtocolError(
            f"received a {kind} frame with RSV1 set; permessage-deflate marks only the "
            "first frame of a data message as compressed (RFC 7692 §6)"
        )
    return None


def _name(opcode: int) -> str:
    return Opcode(opcode).name if opcode in _KNOWN_OPCODES else f"reserved {opcode:#x}"


def receive_through_gate(
    gate: HeaderGate, data: bytes, parse: Callable[[bytes, list[EngineEvent]], None]
) -> list[EngineEvent]:
    """Feed ``data`` to a library parser behind ``gate``: the engine half of ``receive_data``.

    Bytes up to the first bad header are parsed (their events are delivered
    with the error, as the contract asks); the bad header itself never
    reaches the library.
    """
    events: list[EngineEvent] = []
    try:
        verdict = gate.scan(data)
        if verdict is None:
            parse(data, events)
            return events
        offset, error = verdict
        if offset:
            parse(data[:offset], events)
        raise error
    except ProtocolError as exc:
        exc.events = events
        raise
