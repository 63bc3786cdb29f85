"""RFC 6455 vocabulary: opcodes, close codes and the close-payload rules.

Everything here is shared by the core and every engine, so a rule such as
"which close codes may travel on the wire" exists exactly once.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from openwire.errors import ProtocolError

__all__ = [
    "CloseCode",
    "Frame",
    "Opcode",
    "build_close_payload",
    "check_close_code",
    "parse_close_payload",
]


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 §5.2). 0x3-0x7 and 0xB-0xF are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """Close, ping or pong (opcodes 0x8 and up): never fragmented, at most 125 bytes."""
        return self >= 0x8


class Frame(NamedTuple):
    """One complete frame as an engine parsed it (RFC 6455 §5.2), payload unmasked.

    ``opcode`` is the raw 4-bit opcode (an ``int``, so a parser need not
    build an enum per frame), ``fin`` the FIN bit, ``rsv1`` the RSV1 bit
    (meaningful only once permessage-deflate is negotiated, RFC 7692 §6).
    RSV2/RSV3 are absent on purpose: the core rejects them from the header
    before a parser sees the frame.
    """

    opcode: int
    fin: bool
    rsv1: bool
    payload: bytes


class CloseCode(IntEnum):
    """Close status codes with their RFC 6455 §7.4.1 (and IANA registry) names."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005  # never on the wire: "no code was present"
    ABNORMAL_CLOSURE = 1006  # never on the wire: "dropped without a Close"
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never on the wire


# §7.4.1 and the IANA registry: codes an endpoint may put in a Close frame.
# 1004 is reserved, 1005/1006/1015 are for local reporting only, 1016-2999
# are reserved for future RFCs; 3000-4999 belong to libraries and apps.
_WIRE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

OK_CODES = frozenset({1000, 1001})


def is_wire_code(code: int) -> bool:
    """May ``code`` appear in a Close frame (RFC 6455 §7.4)?"""
    return code in _WIRE_CODES or 3000 <= code <= 4999


def check_close_code(code: int) -> None:
    """Reject a close code that ``close()`` may not send, before anything is sent."""
    if not is_wire_code(code):
        raise ValueError(
            f"close code {code} may not be sent on the wire (RFC 6455 §7.4); "
            "use 1000-1003, 1007-1014 or an application code in 3000-4999"
        )


class CloseInfo(NamedTuple):
    code: int
    reason: str


def parse_close_payload(payload: bytes) -> CloseInfo:
    """Decode a received Close payload (RFC 6455 §5.5.1).

    Empty means "no status" (reported as 1005). One byte, a code that may not
    be on the wire, or a reason that is not UTF-8 fail the connection.
    """
    if not payload:
        return CloseInfo(CloseCode.NO_STATUS_RCVD, "")
    if len(payload) == 1:
        raise ProtocolError(
            "received a Close frame with a 1-byte payload; expected none or a "
            "2-byte code followed by a UTF-8 reason (RFC 6455 §5.5.1)"
        )
    code = int.from_bytes(payload[:2], "big")
    if not is_wire_code(code):
        raise ProtocolError(
            f"received close code {code}, which may not be sent on the wire (RFC 6455 §7.4.1)"
        )
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"received a close reason that is not valid UTF-8 ({exc.reason} at byte "
            f"{exc.start}) (RFC 6455 §5.5.1)",
            close_code=CloseCode.INVALID_FRAME_PAYLOAD_DATA,
        ) from None
    return CloseInfo(code, reason)


def build_close_payload(code: int | None, reason: str = "") -> bytes:
    """Encode a Close payload; ``None`` (or 1005) sends an empty one."""
    if code is None or code == CloseCode.NO_STATUS_RCVD:
        return b""
    data = code.to_bytes(2, "big") + reason.encode("utf-8")
    if len(data) > 125:
        raise ValueError(
            f"close reason is {len(data) - 2} bytes once encoded; at most 123 fit in "
            "a control frame (RFC 6455 §5.5)"
        )
    return data
