"""Content-Encoding: whole bodies decoded, cut ones refused (RFC 9110 §8.4, RFC 1950-1952).

A scripted server sends each body in the pieces given, with a pause between
them, so the decoder sees the boundaries the test chose.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Callable

import pytest
from openwire import Client, DecodingError

from tests.http_peers import Handler, RawServer, read_request_head

pytestmark = pytest.mark.anyio

TEXT = b"hello world, " * 50


def _raw_deflate(data: bytes) -> bytes:
    z = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return z.compress(data) + z.flush()


def serve(coding: str, pieces: list[bytes]) -> Handler:
    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request_head(reader)
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
        )
        for piece in pieces:
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    return handler


GZ = gzip.compress(TEXT)
ZLIB = zlib.compress(TEXT)
RAW = _raw_deflate(TEXT)


@pytest.mark.parametrize(
    ("coding", "pieces", "expected"),
    [
        pytest.param("gzip", [GZ], TEXT, id="gzip"),
        pytest.param(
            "gzip",
            [gzip.compress(b"part one, "), gzip.compress(b"part two")],
            b"part one, part two",
            id="gzip-two-members",
        ),
        pytest.param(
            "gzip",
            [gzip.compress(b"one, ") + gzip.compress(b"two")],
            b"one, two",
            id="gzip-two-members-one-piece",
        ),
        pytest.param("gzip", [GZ, b"\0\0\0\0"], TEXT, id="gzip-padding-after-the-member"),
        pytest.param("gzip", [GZ + b"\n"], TEXT, id="gzip-one-byte-of-padding"),
        pytest.param("gzip", [GZ, b"\n"], TEXT, id="gzip-one-byte-of-padding-alone"),
        pytest.param("deflate", [ZLIB], TEXT, id="deflate-zlib"),
        pytest.param("deflate", [RAW], TEXT, id="deflate-raw"),
        pytest.param("deflate", [ZLIB[:1], ZLIB[1:]], TEXT, id="deflate-zlib-1-byte-first"),
        pytest.param("deflate", [RAW[:1], RAW[1:]], TEXT, id="deflate-raw-1-byte-first"),
    ],
)
async def test_whole_bodies_are_decoded(
    raw_server: Callable[[Handler], RawServer], coding: str, pieces: list[bytes], expected: bytes
) -> None:
    server = raw_server(serve(coding, pieces))
    async with Client() as client:
        response = await client.get(server.url)
        assert await response.aread() == expected
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        pytest.param("gzip", GZ[: len(GZ) // 2], id="gzip-cut-in-the-middle"),
        pytest.param("gzip", GZ[:-4], id="gzip-without-its-size"),
        pytest.param("gzip", GZ + gzip.compress(b"more")[:10], id="gzip-second-member-cut"),
        pytest.param("gzip", GZ + b"\x1f\x8bgarbage", id="gzip-second-member-corrupt"),
        pytest.param("deflate", ZLIB[: len(ZLIB) // 2], id="deflate-zlib-cut"),
        pytest.param("deflate", RAW[: len(RAW) // 2], id="deflate-raw-cut"),
        pytest.param("deflate", ZLIB[:1], id="deflate-one-byte"),
    ],
)
async def test_a_body_cut_short_is_a_decoding_error(
    raw_server: Callable[[Handler], RawServer], coding: str, body: bytes
) -> None:
    server = raw_server(serve(coding, [body]))
    async with Client() as client:
        # get() reads the body: the error comes from there.
        with pytest.raises(DecodingError, match="not valid for its Content-Encoding"):
            await client.get(server.url)


async def test_an_empty_encoded_body_is_empty(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    # A 200 with no bytes at all (as a HEAD or a 304 would have) is not truncated.
    server = raw_server(serve("gzip", []))
    async with Client() as client:
        response = await client.get(server.url)
        assert await response.aread() == b""
