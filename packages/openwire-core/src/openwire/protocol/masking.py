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

# Header and masking key packed in one call: the three length forms (§5.2).
_PACK_SHORT = Struct("!BB4s").pack
_PACK_MEDIUM = Struct("!BBH4s").pack
_PACK_LONG = Struct("!BBQ4s").pack
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
    """Writes client frames (RFC 6455 §5.2), each masked with a fresh key (§5.3).

    ``mask_into`` is for an engine whose library masks a ``bytearray`` in
    place faster than :func:`apply_mask` (aiohttp's C routine); ``None``
    uses :func:`apply_mask`.
    """

    __slots__ = ("_key_pos", "_keys")

    mask_into: Callable[[bytes, bytearray], None] | None = None

    def __init__(self) -> None:
        self._keys = b""
        self._key_pos = _KEY_POOL

    def encode_frame(
        self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, /
    ) -> bytes:
        """One frame as wire bytes (the engine contract's ``encode_frame``); payload unchanged.

        ``payload`` may be any bytes-like object; both masking routines accept one.
        """
        first = opcode | fin << 7 | rsv1 << 6
        pos = self._key_pos
        if pos == _KEY_POOL:
            self._keys = _urandom(_KEY_POOL)
            pos = 0
        self._key_pos = pos + 4
        key = self._keys[pos : pos + 4]
        mask_into = self.mask_into
        masked: bytes | bytearray
        if mask_into is None:
            masked = apply_mask(payload, key)
        else:
            masked = bytearray(payload)
            mask_into(key, masked)
        n = len(payload)
        if n < 126:
            return _PACK_SHORT(first, 0x80 | n, key) + masked
        if n < 65536:
            return _PACK_MEDIUM(first, 0xFE, n, key) + masked
        return _PACK_LONG(first, 0xFF, n, key) + masked
