"""Client-to-server masking (RFC 6455 §5.3), as fast as this interpreter allows.

Masking touches every byte a client sends, so it dominates the cost of large
messages. A C implementation is about 70x faster than the best pure-Python
one (one big-integer XOR, ~7 ms per MiB), so the fastest one installed is
picked once at import:

1. ``websockets.speedups.apply_mask`` (``pip install openwire-core[speedups]``);
2. pure Python: XOR of the payload and the repeated key as two big integers
   (no per-byte Python loop).

The choice is visible as :data:`IMPLEMENTATION`.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["IMPLEMENTATION", "apply_mask"]


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
