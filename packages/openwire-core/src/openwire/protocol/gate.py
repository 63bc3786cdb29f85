"""Frame-header rules (RFC 6455 §5.2-5.5, §10.4; RFC 7692 §6), written once.

:func:`header_error` is the single statement of the rules a client applies to
a server frame header. The native codec calls it from its parse loop, and
the core's reader (``protocol.reader``) calls it for every other engine
before the engine sees a byte of the header, so a violation or an oversize
announcement is reported from the header alone, with the same close code and
the same words whichever engine is selected, and no memory is spent on the
payload.
"""

from __future__ import annotations

from openwire.errors import PayloadTooBig, ProtocolError
from openwire.protocol.frames import Opcode

__all__ = ["UNLIMITED", "header_error"]

UNLIMITED = (1 << 63) - 1
"""The size limit that stands for "none": the largest length RFC 6455 §5.2 allows.

Parse loops skip :func:`header_error` for a frame within their limits, so
"no limit" must still be a bound every illegal length exceeds: a 64-bit
length with its most significant bit set is always above this one.
"""

_KNOWN_OPCODES = frozenset(int(op) for op in Opcode)


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
