"""HTTP/2 WebSocket peers over TLS with ALPN: hypercorn and Node's http2 module.

- hypercorn serves an ASGI WebSocket echo over h2 and advertises
  ``SETTINGS_ENABLE_CONNECT_PROTOCOL`` (RFC 8441), and ordinary requests
  on ``/echo`` and ``/stream`` (:func:`http_app`);
- ``node_peer.js`` is a second, independent implementation (nghttp2 under
  Node's ``http2``) with paths that reset the stream or send GOAWAY, once
  with the setting and once without it (the fallback and the typed error);
  it also answers HTTP/1.1 upgrades, so ``"auto"`` can fall back to it.

Node comes from the machine or, on a fresh one, from Debian's ``nodejs``
package (like the proxies of ``tests/proxy_peers.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config
from openwire.events import EventListener
from openwire.testing.servers import BackgroundLoop

from tests.http_peers import _debian_binary, _wait_listening, free_port

NODE_PEER = Path(__file__).with_name("node_peer.js")


@dataclass
class H2Server:
    url: str  # wss://127.0.0.1:port
    port: int

    @property
    def https(self) -> str:
        """The same server for ordinary requests."""
        return f"https://127.0.0.1:{self.port}"


async def refused_tries(client: Any, server: H2Server, ident: str) -> list[int]:
    """The Node peer's session numbers on which ``/refused-always?ident`` was tried."""
    tries: list[int] = await (await client.get(f"{server.https}/tries?{ident}")).json()
    return tries


@pytest.fixture(scope="session")
def h2_certs(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("h2-cert")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    return str(certfile), str(keyfile)


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/echo``: the request as JSON (body length, digest); ``/stream?N``: N KiB, 16 KiB parts."""
    path = scope["path"]
    if path == "/echo":
        digest = hashlib.sha256()
        length = 0
        while True:
            message = await receive()
            body = message.get("body", b"")
            digest.update(body)
            length += len(body)
            if not message.get("more_body"):
                break
        answer = {
            "method": scope["method"],
            "http_version": scope["http_version"],
            "length": length,
            "sha256": digest.hexdigest(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
        }
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})
    elif path == "/stream":
        kib = int(scope["query_string"] or b"1024")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        part = bytes(range(256)) * 64
        for _ in range(kib // 16):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"no such path"})


async def ws_echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo; ``/close`` closes with 4001 after the first message; ``/headers`` sends them."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await http_app(scope, receive, send)
        return
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    subprotocols = scope.get("subprotocols") or []
    await send(
        {"type": "websocket.accept", "subprotocol": subprotocols[0] if subprotocols else None}
    )
    if scope["path"] == "/headers":
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        await send({"type": "websocket.send", "text": json.dumps(headers)})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send(
            {"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")}
        )
        if scope["path"] == "/close":
            await send({"type": "websocket.close", "code": 4001, "reason": "done"})
            return


@pytest.fixture(scope="session")
def hypercorn_h2(server_loop: BackgroundLoop, h2_certs: tuple[str, str]) -> Iterator[H2Server]:
    yield from _hypercorn(server_loop, h2_certs, ["h2", "http/1.1"])


@pytest.fixture(scope="session")
def hypercorn_h11(server_loop: BackgroundLoop, h2_certs: tuple[str, str]) -> Iterator[H2Server]:
    """The same app, offering only ``http/1.1`` by ALPN."""
    yield from _hypercorn(server_loop, h2_certs, ["http/1.1"])


def _hypercorn(
    server_loop: BackgroundLoop, h2_certs: tuple[str, str], alpn: list[str]
) -> Iterator[H2Server]:
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    config.graceful_timeout = 1
    config.certfile, config.keyfile = h2_certs
    config.alpn_protocols = alpn
    stop = asyncio.Event()
    task: list[asyncio.Future[None]] = []

    async def start() -> None:
        task.append(asyncio.ensure_future(serve(ws_echo_app, config, shutdown_trigger=stop.wait)))  # type: ignore[arg-type]

    async def shutdown() -> None:
        stop.set()
        await asyncio.wait_for(task[0], 10)

    server_loop.run(start())
    _wait_listening(port)
    yield H2Server(f"wss://127.0.0.1:{port}", port)
    server_loop.run(shutdown())


def _node(h2_certs: tuple[str, str], *flags: str) -> Iterator[H2Server]:
    binary = _debian_binary("node", "nodejs")
    port = free_port()
    command = [binary, str(NODE_PEER), str(port), *h2_certs, *flags]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with process:
        try:
            _wait_listening(port)
        except RuntimeError:
            process.kill()
            output = process.communicate()[0].decode(errors="replace")
            pytest.fail(f"the Node HTTP/2 peer did not start: {output}")
        try:
            yield H2Server(f"wss://127.0.0.1:{port}", port)
        finally:
            process.terminate()
            process.wait(5)


@pytest.fixture(scope="session")
def node_h2(h2_certs: tuple[str, str]) -> Iterator[H2Server]:
    """Node's http2 with ``enableConnectProtocol``."""
    yield from _node(h2_certs)


@pytest.fixture(scope="session")
def node_h2_plain(h2_certs: tuple[str, str]) -> Iterator[H2Server]:
    """Node's http2 without the setting: h2 by ALPN, no extended CONNECT."""
    yield from _node(h2_certs, "--no-connect-protocol")


@pytest.fixture(scope="session")
def node_h2_two_streams(h2_certs: tuple[str, str]) -> Iterator[H2Server]:
    """Node's http2 with ``MAX_CONCURRENT_STREAMS = 2``."""
    yield from _node(h2_certs, "--max-streams", "2")


class Counter(EventListener):
    """Counts events across every call of a client (one instance for all)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.args: list[tuple[str, tuple[Any, ...]]] = []

    def count(self, name: str) -> int:
        return self.names.count(name)

    def connect_end(self, host: str, port: int) -> None:
        self.names.append("connect_end")

    def connection_acquired(self, host: str, port: int, reused: bool) -> None:
        self.names.append("connection_acquired")
        self.args.append(("connection_acquired", (reused,)))

    def connection_released(self, host: str, port: int) -> None:
        self.names.append("connection_released")

    def websocket_http2_fallback(self, url: str, reason: str) -> None:
        self.names.append("websocket_http2_fallback")
        self.args.append(("websocket_http2_fallback", (url, reason)))

    def websocket_failed(self, error: BaseException) -> None:
        self.names.append("websocket_failed")
        self.args.append(("websocket_failed", (error,)))

    def websocket_closed(self, code: int, reason: str) -> None:
        self.names.append("websocket_closed")

    def websocket_open(self, response: Any) -> None:
        self.names.append("websocket_open")
        self.args.append(("websocket_open", (response.http_version,)))


@pytest.fixture
def counter() -> Counter:
    return Counter()


@pytest.fixture
def h2_client(ca_file: str, counter: Counter) -> Callable[..., Any]:
    """``h2_client(**overrides)``: a Client with ``http2=True`` that trusts the test CA."""
    from openwire import Client

    def make(**overrides: Any) -> Client:
        options: dict[str, Any] = {
            "verify": ca_file,
            "http2": True,
            "event_listener_factory": lambda: counter,
        }
        options.update(overrides)
        return Client(**options)

    return make
