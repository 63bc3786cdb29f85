"""Re-export of :mod:`openwire.protocol.frames`, the RFC 6455 vocabulary's former path."""

from openwire.protocol.frames import (
    CloseCode,
    Opcode,
    build_close_payload,
    check_close_code,
    parse_close_payload,
)

__all__ = ["CloseCode", "Opcode", "build_close_payload", "check_close_code", "parse_close_payload"]
