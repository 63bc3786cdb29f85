"""Build server frames byte by byte, and read what the client sent.

Deliberately independent of every engine (including the native codec), so a
test that uses it checks an engine against the RFC, not against itself.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

__all__ = ["TAIL", "ClientFrame", "FrameReader", "close_payload", "compress", "frame", "inflate"]

# The empty stored block a sync flush ends with; RFC 7692 §7.2.1 drops it on the wire.
TAIL = b"\x00\x00\xff\xff"


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length_bytes: int | None = None,
    length: int | None = None,
) -> bytes:
    """One frame as a server would send it (unmasked unless ``mask`` is given).

    ``rsv`` is the three RSV bits as a number 0-7; ``length_bytes`` forces
    the 7-bit (0), 16-bit (2) or 64-bit (8) length encoding, even a
    non-minimal one; ``length`` announces a payload length other than the
    payload's (for limit tests that send only a header).
    """
    first = (0x80 if fin else 0) | (rsv & 7) << 4 | opcode
    n = len(payload) if length is None else length
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 65536 else 8
    mask_bit = 0x80 if mask is not None else 0
    if length_bytes == 0:
        header = bytes((first, mask_bit | n))
    elif length_bytes == 2:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if mask is not None:
        header += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + payload


def compress(data: bytes, compressor: Any = None, wbits: int = 15) -> bytes:
    """One message as a permessage-deflate sender puts it on the wire (RFC 7692 §7.2.1)."""
    c = compressor or zlib.compressobj(wbits=-wbits)
    out: bytes = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(payload: bytes, decompressor: Any = None, wbits: int = 15) -> bytes:
    """A compressed message's payload, inflated as RFC 7692 §7.2.2 says."""
    d = decompressor or zlib.decompressobj(wbits=-wbits)
    out: bytes = d.decompress(payload + TAIL)
    return out


def close_payload(code: int | None, reason: bytes | str = b"") -> bytes:
    """A Close payload: the code (2 bytes, big-endian), then the UTF-8 reason; no code: ``b""``."""
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return code.to_bytes(2, "big") + reason


@dataclass
class ClientFrame:
    """One frame as the client sent it, unmasked: what a scripted peer asserts on."""

    fin: bool
    rsv: int
    opcode: int
    masked: bool
    key: bytes
    payload: bytes

    @property
    def close_code(self) -> int | None:
        """The status code of a Close frame's payload; ``None`` when it carries none."""
        return int.from_bytes(self.payload[:2], "big") if len(self.payload) >= 2 else None


class FrameReader:
    """Incrementally parse frames from client bytes (unmasking them)."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[ClientFrame]:
        """Add bytes read from the client; return the frames now complete, unmasked."""
        self._buf += data
        frames: list[ClientFrame] = []
        while True:
            buf = self._buf
            if len(buf) < 2:
                return frames
            b0, b1 = buf[0], buf[1]
            n = b1 & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return frames
                n = struct.unpack_from("!H", buf, 2)[0]
                pos = 4
            elif n == 127:
                if len(buf) < 10:
                    return frames
                n = struct.unpack_from("!Q", buf, 2)[0]
                pos = 10
            masked = bool(b1 & 0x80)
            key = b""
            if masked:
                if len(buf) < pos + 4:
                    return frames
                key = buf[pos : pos + 4]
                pos += 4
            if len(buf) < pos + n:
                return frames
            payload = buf[pos : pos + n]
            if masked:
                payload = _unmask(payload, key)
            self._buf = buf[pos + n :]
            frames.append(
                ClientFrame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, masked, key, payload)
            )


def _unmask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )
