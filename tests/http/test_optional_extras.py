"""The optional extras: brotli and zstd response decoding, and ``verify="system"`` (truststore).

Decoding runs against a local server that sends such bodies, split across
several writes so the streaming decoders see partial input. The trust-store
tests run in a subprocess whose ``SSL_CERT_FILE`` names a test CA: on Linux
truststore reads OpenSSL's default verify paths, which honour that variable,
so the machine's own store is never read or changed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable

import brotli
import pytest
from openwire import Client, DecodingError
from openwire.http.decoding import ACCEPT_ENCODING

from tests.http_peers import Handler, RawServer, Server, read_request_head

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

pytestmark = pytest.mark.anyio

TEXT = b"openwire decodes this body as it streams in. " * 400


def _serve_encoded(coding: str, body: bytes, pieces: int = 4) -> Handler:
    """A handler answering every request with ``body`` under ``Content-Encoding: coding``."""

    async def handle(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await read_request_head(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\n"
            + f"Content-Encoding: {coding}\r\nContent-Length: {len(body)}\r\n".encode()
            + b"X-Accept-Encoding: "
            + _header(head, b"accept-encoding")
            + b"\r\nConnection: close\r\n\r\n"
        )
        step = max(1, len(body) // pieces)
        for start in range(0, len(body), step):
            writer.write(body[start : start + step])
            await writer.drain()
            await asyncio.sleep(0)

    return handle


def _header(head: bytes, name: bytes) -> bytes:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return b""


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "br": brotli.compress,
    "zstd": zstd.compress,
}


@pytest.mark.parametrize("coding", ["br", "zstd"])
async def test_decoded_while_streaming_and_advertised(
    coding: str, raw_server: Callable[[Handler], RawServer]
) -> None:
    server = raw_server(_serve_encoded(coding, ENCODERS[coding](TEXT)))
    async with Client() as client:
        response = await client.get(f"{server.url}/")
    assert response.content == TEXT
    assert "content-encoding" not in response.headers  # it described the encoded body
    offered = response.headers["x-accept-encoding"]
    assert offered == ACCEPT_ENCODING == "gzip, deflate, br, zstd"


async def test_zstd_body_of_several_frames(raw_server: Callable[[Handler], RawServer]) -> None:
    # RFC 8878 §3.1: frames may follow one another; each is decoded in turn.
    body = zstd.compress(TEXT[:1000]) + zstd.compress(TEXT[1000:])
    server = raw_server(_serve_encoded("zstd", body, pieces=7))
    async with Client() as client:
        assert (await client.get(f"{server.url}/")).content == TEXT


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("br", b"this is not brotli at all"),
        ("br", brotli.compress(TEXT)[:-8]),  # truncated
        ("zstd", b"this is not zstd at all"),
        ("zstd", zstd.compress(TEXT)[:-8]),  # truncated
    ],
    ids=["br-garbage", "br-truncated", "zstd-garbage", "zstd-truncated"],
)
async def test_a_corrupt_body_is_a_decoding_error(
    coding: str, body: bytes, raw_server: Callable[[Handler], RawServer]
) -> None:
    server = raw_server(_serve_encoded(coding, body))
    async with Client() as client:
        with pytest.raises(DecodingError) as info:
            await client.get(f"{server.url}/")
    message = str(info.value)
    assert "not valid for its Content-Encoding" in message
    assert "Accept-Encoding yourself" in message


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_without_the_libraries_only_gzip_and_deflate_are_offered() -> None:
    result = _python(
        """
        import sys
        sys.modules["brotli"] = None  # as if not installed
        sys.modules["compression.zstd"] = None
        sys.modules["backports.zstd"] = None
        from openwire.http.decoding import ACCEPT_ENCODING, decoder_for
        print(ACCEPT_ENCODING, decoder_for("br"), decoder_for("zstd"))
        """,
        {},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "gzip, deflate None None"


# ----------------------------------------------------------- verify="system"

SYSTEM_GET = """
    import sys
    import anyio
    from openwire import Client, TLSError

    async def main() -> None:
        async with Client(verify="system") as client:
            try:
                response = await client.get(sys.argv[1] + "/echo")
            except TLSError as exc:
                print("refused:", exc)
            else:
                print("status", response.status)

    anyio.run(main)
"""


def _system_get(url: str, cert_file: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SYSTEM_GET), url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SSL_CERT_FILE": cert_file, "SSL_CERT_DIR": os.devnull},
    )


def test_verify_system_trusts_the_os_store(https_server: Server, ca_file: str) -> None:
    trusted = _system_get(https_server.url, ca_file)
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.strip() == "status 200"


def test_verify_system_refuses_what_the_os_store_does_not_trust(
    https_server: Server, tmp_path: os.PathLike[str]
) -> None:
    import trustme

    other = os.path.join(tmp_path, "other-ca.pem")
    trustme.CA().cert_pem.write_to_path(other)
    refused = _system_get(https_server.url, other)
    assert refused.returncode == 0, refused.stderr
    assert refused.stdout.startswith("refused:"), refused.stdout


def test_verify_system_without_truststore_says_what_to_install() -> None:
    result = _python(
        """
        import sys
        sys.modules["truststore"] = None
        from openwire.http.tls import create_ssl_context
        try:
            create_ssl_context("system")
        except ImportError as exc:
            print(exc)
        """,
        {},
    )
    assert result.returncode == 0, result.stderr
    assert "openwire-core[truststore]" in result.stdout
