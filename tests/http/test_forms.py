"""data= (URL-encoded forms) and files= (multipart/form-data) against a real server."""

from __future__ import annotations

import email.parser
import email.policy
import io
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from openwire import Client, Request, Response
from openwire.http.forms import encode_multipart

from tests.http_peers import Server

pytestmark = pytest.mark.anyio


def header(payload: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in payload["headers"] if k.lower() == name.lower()]


def parts(payload: dict[str, Any]) -> list[Message]:
    """The multipart body as the standard library's MIME parser reads it."""
    ctype = header(payload, "content-type")[0]
    raw = f"Content-Type: {ctype}\r\n\r\n".encode() + payload["body"].encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart()
    return list(message.iter_parts())  # type: ignore[attr-defined]


async def test_data_is_sent_as_a_urlencoded_form(http_server: Server) -> None:
    async with Client() as client:
        response = await client.post(
            f"{http_server.url}/echo", data={"name": "Zoë & co", "tag": ["a", "b"], "n": 3}
        )
    payload = await response.json()
    assert header(payload, "content-type") == ["application/x-www-form-urlencoded"]
    assert parse_qsl(payload["body"].encode("latin-1").decode()) == [
        ("name", "Zoë & co"),
        ("tag", "a"),
        ("tag", "b"),
        ("n", "3"),
    ]


async def test_files_and_data_are_sent_as_multipart_in_memory(http_server: Server) -> None:
    async with Client() as client:
        response = await client.post(
            f"{http_server.url}/echo",
            data={"title": "report"},
            files={
                "raw": b"\x00\x01binary",
                "doc": ("notes.txt", "hello\r\n--not-a-boundary", "text/plain"),
                "extra": ('a"b.json', b"{}", None, {"X-Part": "1"}),
            },
        )
    payload = await response.json()
    assert header(payload, "transfer-encoding") == []  # bytes: a Content-Length body
    found = parts(payload)
    assert [p.get_param("name", header="content-disposition") for p in found] == [
        "title",
        "raw",
        "doc",
        "extra",
    ]
    assert found[0].get_payload(decode=True) == b"report"
    assert found[1].get_payload(decode=True) == b"\x00\x01binary"
    assert found[1].get_content_type() == "application/octet-stream"
    assert found[2].get_filename() == "notes.txt"
    assert found[2].get_payload(decode=True) == b"hello\r\n--not-a-boundary"
    assert found[3].get_content_type() == "application/json"  # guessed from the name
    assert found[3]["X-Part"] == "1"
    assert found[3].get_filename() == "a%22b.json"  # escaped as browsers do


async def test_a_file_object_streams_with_a_content_length(
    http_server: Server, tmp_path: Path
) -> None:
    path = tmp_path / "upload.bin"
    data = bytes(range(256)) * 1000  # several 64 KiB reads
    path.write_bytes(data)
    async with Client() as client:
        with path.open("rb") as handle:
            response = await client.post(f"{http_server.url}/echo", files={"file": handle})
    payload = await response.json()
    (part,) = parts(payload)
    assert part.get_filename() == "upload.bin"
    assert part.get_payload(decode=True) == data
    length = int(header(payload, "content-length")[0])
    assert length == len(payload["body"].encode("latin-1"))
    assert header(payload, "transfer-encoding") == []


async def test_a_file_object_of_unknown_size_is_sent_chunked(http_server: Server) -> None:
    class Pipe(io.RawIOBase):
        """A readable that cannot seek, like a pipe."""

        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self._data.read(size)

    async with Client() as client:
        response = await client.post(
            f"{http_server.url}/echo", files={"f": ("p.bin", Pipe(b"piped"))}
        )
    payload = await response.json()
    assert header(payload, "content-length") == []
    assert parts(payload)[0].get_payload(decode=True) == b"piped"


async def test_an_in_memory_multipart_body_survives_a_307(http_server: Server) -> None:
    target = f"{http_server.url}/redirect/307?to={quote('/echo', safe='')}"
    async with Client() as client:
        response = await client.post(target, files={"f": b"again"})
    payload = await response.json()
    assert response.history[0].status == 307
    assert parts(payload)[0].get_payload(decode=True) == b"again"


async def test_a_streamed_multipart_body_is_not_resent_by_a_307(
    http_server: Server, tmp_path: Path
) -> None:
    path = tmp_path / "once.bin"
    path.write_bytes(b"once")
    target = f"{http_server.url}/redirect/307?to={quote('/echo', safe='')}"
    async with Client() as client:
        with path.open("rb") as handle:
            response = await client.post(target, files={"f": handle})
    assert response.status == 307  # the body cannot be produced again: the 3xx is the answer


def test_one_body_only_and_forms_are_mappings() -> None:
    client = Client()
    with pytest.raises(ValueError, match="one body"):
        client.build_request("POST", "http://h/", json={}, data={"a": "1"})
    with pytest.raises(ValueError, match="one body"):
        client.build_request("POST", "http://h/", content=b"x", files={"f": b""})
    with pytest.raises(TypeError, match="content="):
        client.build_request("POST", "http://h/", data=b"raw")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="form field 'x'"):
        client.build_request("POST", "http://h/", data={"x": b"bytes"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="text mode"):
        client.build_request("POST", "http://h/", files={"f": io.StringIO("t")})  # type: ignore[dict-item]


def test_the_multipart_encoding_is_exact() -> None:
    body, ctype, length = encode_multipart({"a": "1"}, {"f": ("x.bin", b"\x00")}, boundary="B")
    assert ctype == "multipart/form-data; boundary=B"
    assert body == (
        b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
        b'--B\r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n\x00\r\n--B--\r\n"
    )
    assert length == len(body)


async def test_an_interceptor_sees_the_encoded_form(http_server: Server) -> None:
    seen: list[Request] = []

    async def look(request: Request, chain: Any) -> Response:
        seen.append(request)
        return await chain.proceed(request)

    async with Client(interceptors=[look]) as client:
        await client.put(f"{http_server.url}/echo", data={"k": "v"})
    assert seen[0].content == b"k=v"
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"
