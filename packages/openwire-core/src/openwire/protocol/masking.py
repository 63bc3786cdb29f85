"""Client-to-server masking (RFC 6455 §5.3), as fast as this interpreter allows.

Masking touches every byte a client sends, so it dominates the cost of large
messages. A C implementation is about 70x faster than the best pure-Python
one (one big-integer XOR, ~7 ms per MiB), so the fastest one installed is
picked once at import:

1. ``websockets.speedups.apply_mask`` (``pip install openwire-core[speedups]``);
2. pure Python: XOR of the payload and the repeated key as two big integers
   (no per-byte Python loop).

The choice is visible as :data:`IMPLEMENTATION`.

:class:`FrameMasker` writes whole client frames with it: the header, a fresh
key from the OS CSPRNG (§5.3) and the masked payload. The native codec and
any engine whose library masks slower than this share it, so the key pool
and the frame layout are written once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from struct import Struct

__all__ = ["IMPLEMENTATION", "FrameMasker", "apply_mask"]

_HDR16 = Struct("!BBH")
_HDR64 = Struct("!BBQ")
_urandom = os.urandom
# Keys are drawn 64 at a time: one os.urandom call per frame costs more than
# the rest of encoding a small frame. Each key is used once.
_KEY_POOL = 256


def _apply_mask_python(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b""
    repeated = (key * ((n >> 2) + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )


apply_mask: Callable[[bytes, bytes], bytes]
try:
    from websockets.speedups import apply_mask as _c_apply_mask
except ImportError:  # pragma: no cover - depends on what is installed
    apply_mask = _apply_mask_python
    IMPLEMENTATION = "python"
else:
    apply_mask = _c_apply_mask
    IMPLEMENTATION = "websockets.speedups"


class FrameMasker:
    """Writes client frames (RFC 6455 §5.2), each masked with a fresh key (§5.3)."""

    __slots__ = ("_key_pos", "_keys")

    # The masking routine; an engine whose library masks faster replaces it.
    mask: Callable[[bytes, bytes], bytes | bytearray] = staticmethod(apply_mask)

    def __init__(self) -> None:
        self._keys = b""
        self._key_pos = _KEY_POOL

    def encode_frame(
        self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, /
    ) -> bytes:
        """One frame as wire bytes: the engine contract's ``encode_frame``."""
        return self._frame(opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0), payload)

    def _frame(self, first: int, payload: bytes | bytearray | memoryview) -> bytes:
        """One frame given its first header byte; the payload is masked, not modified."""
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
        return header + key + self.mask(payload, key)
