"""Hypothesis strategies for what a hostile or broken server sends after the 101.

Streams are built from *items*, each a few frames that are valid or break one
rule; items are concatenated in any order, so a fragmented message may be cut
by a new data frame, a continuation may come with nothing open, and so on.
The strategies do not decide what the client must do: the model does, from
the bytes alone. Frames are built with :func:`openwire.testing.frames.frame`.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from hypothesis import strategies as st
from openwire.testing.frames import TAIL, close_payload, frame

from tests.fuzz.rfc6455_model import Limits

__all__ = ["DEFLATE_LIMITS", "LIMITS", "Stream", "deflate_streams", "streams", "truncated_text"]

# Small limits make 1009 cheap to reach; the large one lets 64-bit lengths through.
LIMITS = (Limits(max_frame=100, max_message=300), Limits(max_frame=70_000, max_message=70_000))
DEFLATE_LIMITS = (Limits(max_frame=200, max_message=1000), Limits(max_frame=4096, max_message=8192))

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
# Invalid UTF-8: a lone continuation byte, overlong forms, surrogates, above
# U+10FFFF, bytes that never appear, and a character cut short.
BAD_UTF8 = st.sampled_from(
    [b"\x80", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
     b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff", b"\xe2\x82", b"\xce"]
)  # fmt: skip
BAD_CODES = st.sampled_from([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) | (
    st.integers(0, 65535)
)
GOOD_CODES = st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
                              1014, 3000, 4999]) | st.integers(3000, 4999)  # fmt: skip


@dataclass
class Stream:
    """The bytes the server sends after the 101, and how it splits them into writes."""

    data: bytes
    cuts: list[int] = field(default_factory=list)
    limits: Limits = LIMITS[0]

    def chunks(self) -> list[bytes]:
        edges = [0, *sorted({c for c in self.cuts if 0 < c < len(self.data)}), len(self.data)]
        return [self.data[a:b] for a, b in pairwise(edges)]

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 400 else self.data[:400] + b"..."
        return (
            f"Stream(data={shown!r} ({len(self.data)} bytes), cuts={sorted(self.cuts)}, "
            f"limits={self.limits})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


# ------------------------------------------------------------------ payloads


@st.composite
def payloads(draw: st.DrawFn, text: bool, max_class: int = 4) -> bytes:
    """A payload of one of the length classes of §5.2: 7-bit, 16-bit, or 64-bit."""
    size_class = draw(st.integers(0, max_class))
    if size_class <= 1:
        if text:
            return draw(TEXT).encode()
        return draw(st.binary(max_size=12))
    lo, hi = [(100, 125), (126, 400), (400, 2000), (65535, 65535), (65536, 66000)][size_class]
    size = draw(st.integers(lo, hi))
    seed = draw(st.integers(0, 2**16))
    if not text:
        return random.Random(seed).randbytes(size)
    unit = draw(TEXT.filter(bool)).encode()
    return (unit * (size // len(unit) + 1))[:size].decode("utf-8", "ignore").encode()


def _length_form(draw: st.DrawFn, n: int) -> int | None:
    """Minimal length encoding mostly; sometimes a longer one than needed (§5.2)."""
    forms: list[int | None] = [None, None, None, None, 8]
    if n < 65536:
        forms.append(2)
    return draw(st.sampled_from(forms))


def _frame(
    draw: st.DrawFn, opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0
) -> bytes:
    return frame(opcode, payload, fin=fin, rsv=rsv, length_bytes=_length_form(draw, len(payload)))


def _split(draw: st.DrawFn, payload: bytes, parts: int) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), min_size=parts - 1,
                                max_size=parts - 1)))  # fmt: skip
    edges = [0, *cuts, len(payload)]
    return [payload[a:b] for a, b in pairwise(edges)]


# ------------------------------------------------------------------- items


@st.composite
def control_frame(draw: st.DrawFn) -> bytes:
    opcode = draw(st.sampled_from([0x9, 0xA]))
    return _frame(draw, opcode, draw(st.binary(max_size=125)))


@st.composite
def data_message(draw: st.DrawFn) -> bytes:
    """A whole text or binary message, maybe fragmented, maybe with control frames inside."""
    text = draw(st.booleans())
    payload = draw(payloads(text))
    parts = _split(draw, payload, draw(st.integers(1, 4)))
    out = b""
    for i, part in enumerate(parts):
        if i and draw(st.integers(0, 3)) == 0:
            out += draw(control_frame())  # §5.4: control frames may come between fragments
        out += _frame(draw, 0 if i else (1 if text else 2), part, fin=i == len(parts) - 1)
    return out


@st.composite
def fragment(draw: st.DrawFn) -> bytes:
    """One data frame on its own: a message start without FIN, or a continuation."""
    opcode = draw(st.sampled_from([0x0, 0x1, 0x2]))
    return _frame(draw, opcode, draw(payloads(opcode == 1, max_class=2)), fin=draw(st.booleans()))


@st.composite
def close_frame(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return frame(0x8)
    if kind == 1:
        return frame(0x8, draw(st.binary(min_size=1, max_size=1)))
    if kind == 2:
        return frame(0x8, close_payload(draw(BAD_CODES), draw(TEXT)))
    if kind == 3:
        reason = draw(TEXT).encode() + draw(BAD_UTF8) + draw(TEXT).encode()
        return frame(0x8, close_payload(draw(GOOD_CODES), reason[:123]))
    reason = draw(TEXT).encode()[:123]
    return _frame(draw, 0x8, close_payload(draw(GOOD_CODES), reason))


@st.composite
def invalid_utf8(draw: st.DrawFn) -> bytes:
    """Text that is not UTF-8: in one frame, or with the bad bytes split across fragments."""
    payload = draw(TEXT).encode() + draw(BAD_UTF8) + draw(TEXT).encode()
    parts = _split(draw, payload, draw(st.integers(1, 3)))
    return b"".join(
        _frame(draw, 0 if i else 1, part, fin=i == len(parts) - 1) for i, part in enumerate(parts)
    )


@st.composite
def violation(draw: st.DrawFn) -> bytes:
    """One frame that breaks a header rule of RFC 6455 §5."""
    kind = draw(st.integers(0, 7))
    opcode = draw(st.sampled_from([0x1, 0x2, 0x8, 0x9, 0xA]))
    payload = draw(st.binary(max_size=20))
    if kind == 0:  # RSV bits with no extension (§5.2)
        return frame(opcode, payload, rsv=draw(st.integers(1, 7)))
    if kind == 1:  # a reserved opcode (§5.2)
        return frame(draw(st.sampled_from([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])), payload)
    if kind == 2:  # a masked server frame (§5.1)
        return frame(opcode, payload, mask=draw(st.binary(min_size=4, max_size=4)))
    if kind == 3:  # a 64-bit length with the most significant bit set (§5.2)
        return frame(opcode, b"", length_bytes=8, length=(1 << 63) | draw(st.integers(0, 2**20)))
    if kind == 4:  # a fragmented control frame (§5.5)
        return frame(draw(st.sampled_from([0x8, 0x9, 0xA])), payload, fin=False)
    if kind == 5:  # an oversized control frame (§5.5)
        big = draw(st.binary(min_size=126, max_size=140))
        return frame(draw(st.sampled_from([0x8, 0x9, 0xA])), big)
    if kind == 6:  # a length far over any limit, with no payload behind it (§10.4)
        return frame(opcode, b"", length_bytes=8, length=draw(st.integers(2**17, 2**62)))
    return draw(st.binary(min_size=1, max_size=16))  # garbage


VALID_ITEMS = st.one_of(data_message(), data_message(), control_frame())
ITEMS = st.one_of(
    data_message(), data_message(), data_message(), control_frame(), fragment(),
    close_frame(), invalid_utf8(), violation(),
)  # fmt: skip


def _finish(draw: st.DrawFn, data: bytes, limits_choice: tuple[Limits, ...]) -> Stream:
    ending = draw(st.integers(0, 3))
    if ending == 0:
        data += frame(0x8, close_payload(1000))
    elif ending == 1 and data:
        data = data[: draw(st.integers(0, len(data) - 1))]  # truncation, then EOF
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=4))
    return Stream(data, cuts, draw(st.sampled_from(limits_choice)))


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    """Frame sequences, valid and invalid, without extensions."""
    # A third of the streams are valid throughout, so delivery itself is tested.
    valid = draw(st.integers(0, 2)) == 0
    items = draw(st.lists(VALID_ITEMS if valid else ITEMS, max_size=6))
    return _finish(draw, b"".join(items), LIMITS)


@st.composite
def truncated_text(draw: st.DrawFn, fragmented: bool) -> Stream:
    """Text whose bytes are already invalid UTF-8 while its frame is still arriving."""
    prefix = b"".join(draw(st.lists(data_message(), max_size=2)))
    bad = draw(TEXT).encode() + draw(BAD_UTF8.filter(lambda b: b not in (b"\xe2\x82", b"\xce")))
    rest = draw(st.binary(min_size=1, max_size=50))
    if fragmented:
        prefix += frame(0x1, draw(TEXT).encode(), fin=False)
    whole = frame(0x0 if fragmented else 0x1, bad + rest, fin=draw(st.booleans()))
    data = prefix + whole[: len(whole) - len(rest)]
    return Stream(data, draw(st.lists(st.integers(0, len(data)), max_size=3)), LIMITS[1])


# ---------------------------------------------------------- permessage-deflate


@dataclass
class _Compressor:
    """The server's compression state (context takeover, RFC 7692 §7.2.1)."""

    obj: zlib._Compress = field(default_factory=lambda: zlib.compressobj(wbits=-15))

    def message(self, data: bytes, bfinal: bool) -> bytes:
        if bfinal:
            # §7.2.3.4: a stream ended with BFINAL; the next message needs a new one.
            out = self.obj.compress(data) + self.obj.flush(zlib.Z_FINISH)
            self.obj = zlib.compressobj(wbits=-15)
            return out
        out = self.obj.compress(data) + self.obj.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        return out[:-4]


@st.composite
def _compressed_content(draw: st.DrawFn, text: bool) -> bytes:
    kind = draw(st.integers(0, 4))
    if kind == 0:  # a decompression bomb: tiny on the wire, far over the limit inflated
        return b"\x00" * draw(st.integers(1000, 300_000)) if not text else b"a" * 9000
    if kind == 1 and text:
        return draw(TEXT).encode() + draw(BAD_UTF8) + draw(TEXT).encode()
    return draw(payloads(text, max_class=3))


@st.composite
def deflate_streams(draw: st.DrawFn) -> Stream:
    """Streams on a connection with permessage-deflate (RFC 7692) negotiated."""
    compressor = _Compressor()
    out = b""
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 9))
        if kind <= 4:  # a compressed message: RSV1 on its first frame only (§6)
            text = draw(st.booleans())
            content = draw(_compressed_content(text))
            wire = compressor.message(content, bfinal=draw(st.integers(0, 5)) == 0)
            corrupt = draw(st.integers(0, 5))
            if corrupt == 0 and wire:
                at = draw(st.integers(0, len(wire) - 1))
                flip = draw(st.integers(1, 255))
                wire = wire[:at] + bytes([wire[at] ^ flip]) + wire[at + 1 :]
            elif corrupt == 1:
                wire = draw(st.binary(min_size=1, max_size=30))
            parts = _split(draw, wire, draw(st.integers(1, 3)))
            bad_rsv = draw(st.integers(0, 7)) == 0
            for i, part in enumerate(parts):
                rsv = 4 if i == 0 or bad_rsv else 0
                if i and draw(st.integers(0, 3)) == 0:
                    out += draw(control_frame())
                out += _frame(draw, 0 if i else (1 if text else 2), part,
                              fin=i == len(parts) - 1, rsv=rsv)  # fmt: skip
        elif kind == 5:  # uncompressed messages stay allowed (§6)
            out += draw(data_message())
        elif kind == 6:  # RSV1 on a control frame; RSV2/RSV3 on anything
            opcode = draw(st.sampled_from([0x1, 0x2, 0x8, 0x9, 0xA]))
            rsv = 4 if opcode >= 8 else draw(st.sampled_from([1, 2, 3, 5, 6, 7]))
            out += frame(opcode, draw(st.binary(max_size=10)), rsv=rsv)
        elif kind == 7:
            out += draw(control_frame())
        elif kind == 8:
            out += draw(close_frame())
        else:
            out += draw(violation())
    return _finish(draw, out, DEFLATE_LIMITS)
