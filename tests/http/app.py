"""A small ASGI app the HTTP tests talk to, with one route per behaviour."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
) -> None:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or [])]
    if not any(k == b"content-length" for k, _ in raw):
        raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    query = dict(parse_qsl(scope["query_string"].decode()))
    headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
    body = await _body(receive)

    if path == "/echo":
        payload = {
            "method": scope["method"],
            "path": path,
            "query": scope["query_string"].decode(),
            "headers": headers,
            "body": body.decode("latin-1"),
            "http_version": scope["http_version"],
        }
        await _respond(
            send, 200, json.dumps(payload).encode(), [("content-type", "application/json")]
        )
    elif path.startswith("/status/"):
        await _respond(send, int(path.rsplit("/", 1)[1]), b"status body")
    elif path.startswith("/redirect/"):
        code = int(path.rsplit("/", 1)[1])
        await _respond(send, code, b"moved", [("location", query["to"])])
    elif path == "/loop":
        await _respond(send, 302, b"", [("location", "/loop")])
    elif path == "/gzip":
        await _respond(
            send, 200, gzip.compress(b"hello gzip" * 100), [("content-encoding", "gzip")]
        )
    elif path == "/deflate":
        await _respond(
            send, 200, zlib.compress(b"hello deflate"), [("content-encoding", "deflate")]
        )
    elif path == "/bad-gzip":
        await _respond(send, 200, b"not gzip at all", [("content-encoding", "gzip")])
    elif path == "/set-cookie":
        cookies = [("set-cookie", f"{k}={v}; Path=/") for k, v in query.items()]
        await _respond(send, 200, b"set", cookies)
    elif path == "/auth":
        if {k.lower(): v for k, v in headers}.get("authorization") == "Bearer good":
            await _respond(send, 200, b"welcome")
        else:
            await _respond(send, 401, b"who are you", [("www-authenticate", "Bearer")])
    elif path == "/auth-echo":
        # /auth, and once authorized /echo (or a 302 to ?to=): what came with the credentials.
        if {k.lower(): v for k, v in headers}.get("authorization") != "Bearer good":
            await _respond(send, 401, b"who are you", [("www-authenticate", "Bearer")])
        elif "to" in query:
            await _respond(send, 302, b"moved", [("location", query["to"])])
        else:
            payload = {"method": scope["method"], "path": path, "headers": headers}
            await _respond(
                send, 200, json.dumps(payload).encode(), [("content-type", "application/json")]
            )
    elif path == "/basic-auth":
        # Basic user:pass (RFC 7617); anything else is a 401 with the Basic challenge.
        if {k.lower(): v for k, v in headers}.get("authorization") == "Basic dXNlcjpwYXNz":
            await _respond(send, 200, b"welcome")
        else:
            await _respond(send, 401, b"who are you", [("www-authenticate", 'Basic realm="t"')])
    elif path == "/basic-auth-echo":
        # /basic-auth whose 401 sets a cookie and whose 200 is the request's
        # fields as JSON, gzip-encoded when the client accepts gzip.
        fields = {k.lower(): v for k, v in headers}
        if fields.get("authorization") != "Basic dXNlcjpwYXNz":
            challenge = [("www-authenticate", 'Basic realm="t"'), ("set-cookie", "sid=1; Path=/")]
            await _respond(send, 401, b"who are you", challenge)
        else:
            payload = json.dumps({"headers": headers}).encode()
            if "gzip" in fields.get("accept-encoding", ""):
                await _respond(send, 200, gzip.compress(payload), [("content-encoding", "gzip")])
            else:
                await _respond(send, 200, payload)
    elif path == "/slow":
        await asyncio.sleep(float(query.get("delay", "2")))
        await _respond(send, 200, b"slow")
    elif path == "/slow-body":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(int(query.get("chunks", "5"))):
            await send({"type": "http.response.body", "body": b"x" * 10, "more_body": True})
            await asyncio.sleep(float(query.get("delay", "0.5")))
        await send({"type": "http.response.body", "body": b""})
    elif path == "/big":
        size = int(query.get("size", "1000000"))
        await _respond(send, 200, b"b" * size)
    else:
        await _respond(send, 404, b"no such route")
