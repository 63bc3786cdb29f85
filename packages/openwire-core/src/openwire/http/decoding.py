"""Streaming gzip/deflate decoding of response bodies.

The bridge advertises only encodings it can undo here, so a body is decoded
chunk by chunk as it is read and never buffered whole.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

from openwire.errors import DecodingError
from openwire.http.models import Request

__all__ = ["ACCEPT_ENCODING", "DecodingStream", "decoder_for"]

ACCEPT_ENCODING = "gzip, deflate"


class Decoder(Protocol):
    def decode(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class GzipDecoder:
    def __init__(self) -> None:
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decode(self, data: bytes) -> bytes:
        return self._z.decompress(data)

    def flush(self) -> bytes:
        return self._z.flush()


class DeflateDecoder:
    """``deflate`` should be zlib-wrapped (RFC 9110 §8.4.1.2), but raw deflate is common."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj()
        self._first = True

    def decode(self, data: bytes) -> bytes:
        if self._first and data:
            self._first = False
            try:
                return self._z.decompress(data)
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._z.decompress(data)

    def flush(self) -> bytes:
        return self._z.flush()


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


_DECODERS: dict[str, type[GzipDecoder] | type[DeflateDecoder]] = {
    "gzip": GzipDecoder,
    "x-gzip": GzipDecoder,
    "deflate": DeflateDecoder,
}


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
        except zlib.error as exc:
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
