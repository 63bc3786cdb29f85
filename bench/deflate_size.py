"""What permessage-deflate buys and costs per message size: the evidence for ``Deflate.min_size``.

For JSON and chat-like text messages of several sizes, each encoded through
openwire's own send path (``DeflateFrameCodec.encode_message``, masking
included), it reports:

- wire bytes per message (payload + frame header + mask key) sent plain, and
  compressed with context takeover (the default: each message may refer back
  to the earlier ones) and without it (a fresh context per message);
- CPU per message on the sending side, plain and compressed, and what the
  receiver spends inflating it;

then the totals of a mixed stream of message sizes under three thresholds:
0 (compress everything), 128 bytes (openwire's default) and 1 KiB (OkHttp's).

Run: ``uv run python bench/deflate_size.py`` (about a minute). Messages are
generated from a fixed seed, so sizes are reproducible; times vary with the
machine.
"""

from __future__ import annotations

import json
import random
import sys
import time
import zlib
from collections.abc import Callable

from openwire.compression import Deflate
from openwire.protocol.codec import DeflateFrameCodec
from openwire.protocol.deflate import PerMessageDeflate, negotiate

SIZES = (16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
COUNT = 2000
_VOCABULARY = (
    "the of and to in is you that it he was for on are as with his they at be this have "
    "from or one had by word but not what all were we when your can said there use an each "
    "which she do how their if will up other about out many then them these so some her "
    "would make like him into time has look two more write go see number no way could "
    "people my than first water been call who oil its now find long down day did get come "
    "made may part ok thanks deploy build error server client release merge review"
)
_WORDS = _VOCABULARY.split()


def _json_message(rng: random.Random, size: int) -> str:
    """A ticker/chat-style JSON event, or a list of them, cut to about ``size`` bytes."""

    def event() -> dict[str, object]:
        return {
            "type": rng.choice(("trade", "quote", "chat", "presence")),
            "id": rng.randrange(10**9),
            "symbol": rng.choice(("BTC-USD", "ETH-USD", "SOL-USD", "EUR-USD")),
            "price": round(rng.uniform(10, 70000), 2),
            "qty": round(rng.uniform(0, 5), 6),
            "ts": 1_765_000_000_000 + rng.randrange(10**7),
            "user": f"user{rng.randrange(5000)}",
        }

    if size < 48:
        text = json.dumps({"op": "ping", "seq": rng.randrange(10**6), "ok": True})
        return text[:size]
    events = [event()]
    while len(json.dumps(events)) < size:
        events.append(event())
    text = json.dumps(events[0] if len(events) == 1 else events)
    return text[:size]


def _text_message(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def _codec(**policy: object) -> DeflateFrameCodec:
    params = negotiate(["permessage-deflate"], Deflate(**policy))  # type: ignore[arg-type]
    assert params is not None
    return DeflateFrameCodec(None, None, PerMessageDeflate(params, None))


def _timed(
    make: Callable[[], Callable[[str], bytes]], messages: list[str]
) -> tuple[list[bytes], float]:
    """Frames and CPU µs per message: the best of three runs, each with a fresh codec.

    CPU time of this process, not wall time, so other load on the machine
    inflates the figures less.
    """
    best = float("inf")
    frames: list[bytes] = []
    for _ in range(3):
        fn = make()
        start = time.process_time()
        frames = [fn(m) for m in messages]
        best = min(best, time.process_time() - start)
    return frames, best / len(messages) * 1e6


def _payload(frame: bytes) -> bytes:
    """The (masked) payload of a client frame: header and mask key stripped."""
    n = frame[1] & 0x7F
    start = 2 + (2 if n == 126 else 8 if n == 127 else 0) + 4
    return frame[start:]


def measure(kind: str, size: int) -> dict[str, float]:
    rng = random.Random(f"{kind}-{size}")
    make = _json_message if kind == "json" else _text_message
    count = max(200, min(COUNT, 2 * 1024 * 1024 // size))
    messages = [make(rng, size) for _ in range(count)]

    def encoder(compress: bool, **policy: object) -> Callable[[], Callable[[str], bytes]]:
        def make() -> Callable[[str], bytes]:
            codec = _codec(**policy)
            return lambda m: codec.encode_message(m, compress)

        return make

    plain, plain_us = _timed(encoder(False), messages)
    takeover, takeover_us = _timed(encoder(True), messages)
    fresh, fresh_us = _timed(encoder(True, client_no_context_takeover=True), messages)
    _, fast_us = _timed(encoder(True, level=1), messages)
    # The receiver's side: inflate what the takeover sender produced (unmasking
    # is not deflate's cost, so the compressed payloads are regenerated unmasked).
    sender = zlib.compressobj(-1, zlib.DEFLATED, -15, 5)
    packed = [
        (sender.compress(m.encode()) + sender.flush(zlib.Z_SYNC_FLUSH))[:-4] for m in messages
    ]
    inflater = zlib.decompressobj(wbits=-15)
    start = time.process_time()
    for p in packed:
        inflater.decompress(p + b"\x00\x00\xff\xff")
    inflate_us = (time.process_time() - start) / count * 1e6
    return {
        "plain_wire": sum(map(len, plain)) / count,
        "takeover_wire": sum(map(len, takeover)) / count,
        "fresh_wire": sum(map(len, fresh)) / count,
        "plain_us": plain_us,
        "takeover_us": takeover_us,
        "fresh_us": fresh_us,
        "fast_us": fast_us,
        "inflate_us": inflate_us,
        "payload_check": float(len(_payload(plain[0])) == len(messages[0].encode())),
    }


def mixed_stream(messages: list[str], threshold: int) -> tuple[float, float]:
    """Wire KiB and CPU ms to send ``messages`` with ``min_size=threshold``."""

    def make() -> Callable[[str], bytes]:
        return _codec(min_size=threshold).encode_message

    frames, us = _timed(make, messages)
    return sum(map(len, frames)) / 1024, us * len(messages) / 1000


def main() -> None:
    print(f"python {sys.version.split()[0]}, zlib {zlib.ZLIB_RUNTIME_VERSION}, {COUNT} messages")
    print(
        "| kind | size | wire plain | wire takeover | wire fresh | µs plain | µs takeover "
        "| µs fresh | µs level 1 | µs inflate |"
    )
    print("| --- " * 10 + "|")
    for kind in ("json", "text"):
        for size in SIZES:
            r = measure(kind, size)
            assert r["payload_check"]
            print(
                f"| {kind} | {size} | {r['plain_wire']:.0f} | {r['takeover_wire']:.0f} "
                f"| {r['fresh_wire']:.0f} | {r['plain_us']:.1f} | {r['takeover_us']:.1f} "
                f"| {r['fresh_us']:.1f} | {r['fast_us']:.1f} | {r['inflate_us']:.1f} |"
            )
    rng = random.Random("mix")
    sizes = [int(min(16384, 24 * 2 ** rng.uniform(0, 9))) for _ in range(5000)]
    messages = [_json_message(rng, s) for s in sizes]
    raw = sum(len(m) for m in messages) / 1024
    print(f"\nmixed JSON stream: 5000 messages, 24 B to 12 KiB log-uniform, {raw:.0f} KiB:")
    for threshold in (0, 64, 128, 256, 1024, 1 << 30):
        kib, ms = mixed_stream(messages, threshold)
        label = "never" if threshold == 1 << 30 else f"min_size={threshold}"
        print(f"  {label:15} {kib:9.0f} KiB on the wire  {ms:7.1f} ms CPU to send")


if __name__ == "__main__":
    main()
