"""Streaming decoding of response bodies: gzip and deflate, and brotli and zstd when installed.

The bridge advertises only encodings it can undo here, so a body is decoded
chunk by chunk as it is read and never buffered whole. gzip and deflate come
with Python; ``br`` needs the ``brotli`` package (``openwire-core[brotli]``)
and ``zstd`` the standard library's ``compression.zstd`` (Python 3.14) or its
backport (``openwire-core[zstd]``). A coding whose decoder is not installed is
not offered in ``Accept-Encoding``, so a server following the header never
sends it; a body that arrives in it anyway is left undecoded, header
included, as for any unknown coding.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from types import ModuleType
from typing import Any, Protocol

from openwire.errors import DecodingError
from openwire.http.models import Request

__all__ = ["ACCEPT_ENCODING", "DecodingStream", "decoder_for"]


class _CorruptBody(Exception):
    """A decoder's own library refused the data; reported as :class:`DecodingError`."""


class Decoder(Protocol):
    def decode(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


_GZIP_MAGIC = b"\x1f\x8b"


class GzipDecoder:
    """``gzip`` (RFC 1952): every member of the body, and an error if it is cut short.

    A body may hold several members one after another (RFC 1952 §2.2; what
    concatenating gzip files gives): each gets a fresh decompressor, as
    ``gzip.decompress`` does. After a complete member, what follows is
    another member only if it starts with the gzip magic number (then its
    errors are errors); anything else is ignored, as urllib3 and browsers
    do: some servers pad.
    """

    def __init__(self) -> None:
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._in_member = False  # a member has begun and not ended
        self._between = False  # a member ended: the next bytes decide what follows
        self._held = b""  # fewer than two bytes after a member, not yet told apart
        self._ignoring = False  # past the last member: the rest is padding

    def decode(self, data: bytes) -> bytes:
        out = []
        while data and not self._ignoring:
            if self._between:
                data = self._held + data
                if len(data) < 2:
                    self._held = data
                    break
                self._held = b""
                self._between = False
                if data[:2] != _GZIP_MAGIC:
                    self._ignoring = True
                    break
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out.append(self._z.decompress(data))
            if not self._z.eof:
                self._in_member = True
                break
            self._in_member = False
            self._between = True
            data = self._z.unused_data
        return b"".join(out)

    def flush(self) -> bytes:
        # An empty body (a HEAD, a 304) is not a truncated one.
        if self._in_member:
            raise _CorruptBody("the gzip stream ends before its end of member")
        return b""


class DeflateDecoder:
    """``deflate`` should be zlib-wrapped (RFC 9110 §8.4.1.2), but raw deflate is common.

    Which of the two it is shows in the first two bytes (a zlib header is a
    multiple of 31 with method 8; raw data that looks like one fails at
    once and is read raw), so nothing is decided before two arrive.
    """

    def __init__(self) -> None:
        self._z: Any = None
        self._head = b""
        self._fed = False  # the stream has begun

    def decode(self, data: bytes) -> bytes:
        if self._z is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            self._fed = True
            if data[0] & 0x0F == 8 and int.from_bytes(data[:2]) % 31 == 0:
                self._z = zlib.decompressobj()
                try:
                    return self._z.decompress(data)  # type: ignore[no-any-return]
                except zlib.error:
                    pass  # raw deflate whose first bytes happen to look like a header
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._z.decompress(data)  # type: ignore[no-any-return]

    def flush(self) -> bytes:
        if self._z is None:
            if self._head:
                raise _CorruptBody("the deflate stream ends after its first byte")
            return b""
        if self._fed and not self._z.eof:
            raise _CorruptBody("the deflate stream ends before its last block")
        return self._z.flush()  # type: ignore[no-any-return]


class _Chain:
    """Undo several codings, last applied first (RFC 9110 §8.4)."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders

    def decode(self, data: bytes) -> bytes:
        for decoder in self._decoders:
            data = decoder.decode(data)
        return data

    def flush(self) -> bytes:
        data = b""
        for decoder in self._decoders:
            data = decoder.decode(data) + decoder.flush()
        return data


def _module(*names: str) -> ModuleType | None:
    """The first of ``names`` that imports, or ``None``: the optional decoders' libraries."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


_brotli = _module("brotli")
_zstd = _module("compression.zstd", "backports.zstd")


class BrotliDecoder:
    """``br`` (RFC 7932), with the ``brotli`` package's streaming decompressor."""

    def __init__(self) -> None:
        assert _brotli is not None  # only registered when it imports
        self._z: Any = _brotli.Decompressor()
        self._fed = False

    def decode(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._fed = True
        try:
            return bytes(self._z.process(data))
        except _brotli.error as exc:  # type: ignore[union-attr]
            raise _CorruptBody(str(exc) or "invalid brotli data") from None

    def flush(self) -> bytes:
        # An empty body (a HEAD, a 304) is not a truncated one.
        if self._fed and not self._z.is_finished():
            raise _CorruptBody("the brotli stream ends before its last block")
        return b""


class ZstdDecoder:
    """``zstd`` (RFC 8878), with ``compression.zstd`` or its backport.

    A body may hold several frames one after another (RFC 8878 §3.1); each
    frame gets a fresh decompressor, as ``compression.zstd.decompress`` does.
    """

    def __init__(self) -> None:
        assert _zstd is not None  # only registered when it imports
        self._z: Any = _zstd.ZstdDecompressor()
        self._in_frame = False  # a frame has begun and not ended

    def decode(self, data: bytes) -> bytes:
        out = []
        try:
            while data:
                out.append(self._z.decompress(data))
                if not self._z.eof:
                    self._in_frame = True
                    break
                self._in_frame = False
                data = self._z.unused_data
                self._z = _zstd.ZstdDecompressor()  # type: ignore[union-attr]
        except _zstd.ZstdError as exc:  # type: ignore[union-attr]
            raise _CorruptBody(str(exc)) from None
        return b"".join(out)

    def flush(self) -> bytes:
        if self._in_frame:
            raise _CorruptBody("the zstd stream ends inside a frame")
        return b""


_DECODERS: dict[str, Callable[[], Decoder]] = {
    "gzip": GzipDecoder,
    "x-gzip": GzipDecoder,
    "deflate": DeflateDecoder,
}
if _brotli is not None:
    _DECODERS["br"] = BrotliDecoder
if _zstd is not None:
    _DECODERS["zstd"] = ZstdDecoder

# The codings offered, most compact first among the optional ones.
ACCEPT_ENCODING = ", ".join(
    ["gzip", "deflate"] + [name for name in ("br", "zstd") if name in _DECODERS]
)


def decoder_for(content_encoding: str | None) -> Decoder | None:
    """A decoder for the header value, or ``None`` when there is nothing (or nothing known) to undo.

    An unknown coding leaves the body untouched, header included, so the caller
    can still see what arrived.
    """
    if not content_encoding:
        return None
    names = [n.strip().lower() for n in content_encoding.split(",") if n.strip()]
    names = [n for n in names if n != "identity"]
    if not names or any(n not in _DECODERS for n in names):
        return None
    decoders: list[Decoder] = [_DECODERS[n]() for n in reversed(names)]
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)


class DecodingStream:
    """Wraps a body source; closing it closes the source."""

    def __init__(self, source: AsyncIterable[bytes], decoder: Decoder, request: Request) -> None:
        self._source = source
        self._decoder = decoder
        self._request = request
        self._iterator: AsyncIterator[bytes] | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._iterator = aiter(self._source)
        while True:
            try:
                chunk = await anext(self._iterator)
            except StopAsyncIteration:
                break
            out = self._decode(chunk, final=False)
            if out:
                yield out
        tail = self._decode(b"", final=True)
        if tail:
            yield tail

    def _decode(self, chunk: bytes, *, final: bool) -> bytes:
        try:
            return self._decoder.flush() if final else self._decoder.decode(chunk)
        except (zlib.error, _CorruptBody) as exc:
            raise DecodingError(
                f"the response body from {self._request.url} is not valid for its "
                f"Content-Encoding ({exc}); the server sent a corrupt body, or set "
                "Accept-Encoding yourself to receive it undecoded",
                request=self._request,
            ) from None

    async def aclose(self) -> None:
        iterator, self._iterator = self._iterator, None
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()
