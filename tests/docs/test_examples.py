"""Every Python code block in the docs runs, against local servers, so an example cannot rot.

The conventions (docs/writing-docs.md says the same to writers):

- Each fenced ``python`` block in ``docs/*.md``, ``README.md`` and the packages'
  READMEs (their index pages) is one test.
- Example hosts are replaced by local servers before the block runs:
  ``ws://``/``wss://`` to ``echo.example`` or ``example.org`` → a WebSocket echo
  server (it echoes every message, picks the first subprotocol offered, and
  closes normally after half a second without a message, so ``async for`` loops
  end); ``http://``/``https://`` to ``example.org`` → an HTTP server with the
  routes of ``tests/http/app.py`` (``/echo``, ``/status/<code>``, ``/redirect/<code>?to=``,
  ``/gzip``, ``/set-cookie``, ``/auth``, ``/slow``, ``/big``…); ``https://secure.example``
  → the same app over TLS, whose CA is at ``/etc/ssl/internal-ca.pem`` (and a client
  certificate at ``/etc/ssl/client.pem``); ``http://proxy.example:3128`` → tinyproxy;
  ``socks5://proxy.example:1080`` → microsocks.
- A complete program (it calls ``asyncio.run``, ``anyio.run``, ``trio.run`` or
  ``uvloop.run``) runs as it is, in a thread of its own.
  Anything else is a fragment: it runs on asyncio with top-level ``await``, with
  ``client`` (an open ``openwire.Client``), ``ws`` (an open WebSocket to the echo
  server), ``url`` (the echo server's URL) and the placeholders ``token`` (a string),
  ``jpeg_bytes`` (bytes), ``read_file_in_chunks()`` (an async iterator of bytes),
  ``handle(message)`` (does nothing) and ``sink`` (has ``write``) predefined; it may
  rebind them. The WebSockets a fragment opens are closed (1000) when it ends.
- ``examples/third-party-engine/src`` is importable, so the engine guide can show
  the example engine's own files.
- ``<!-- no-run: reason -->`` on the line before a block skips it, with the reason;
  only for what cannot run here (a real remote, a process that never ends).
- A block importing a library of :data:`OPTIONAL` runs only where it is installed
  (httpx and httpx-ws are in the ``bench`` group).
- Blocks on pages others own that do not run yet are in :data:`KNOWN_BROKEN`, keyed
  by page and first line: strict expected failures, so a fixed block turns red until
  its entry goes.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import gc
import importlib.util
import inspect
import re
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from openwire import Client, WebSocket, WebSocketCall
from openwire.testing.servers import BackgroundLoop

from tests.http_peers import Proxy, Server

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "README.md",
    *sorted((ROOT / "packages").glob("*/README.md")),
]
OPTIONAL = {"httpx", "httpx_ws"}
KNOWN_BROKEN: dict[tuple[str, str], str] = {}
EXAMPLE_ENGINE = ROOT / "examples" / "third-party-engine" / "src"

_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.M | re.S)
_NO_RUN = re.compile(r"<!--\s*no-run:\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    source: str
    skip: str | None

    @property
    def key(self) -> tuple[str, str]:
        first = next(line for line in self.source.splitlines() if line.strip())
        return (self.page, first.strip())


def _blocks() -> list[Block]:
    blocks = []
    for page in PAGES:
        text = page.read_text()
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            no_run = _NO_RUN.search(before)
            skip = None
            if no_run:
                assert no_run.group(1), f"{page.name}:{line}: no-run needs a reason"
                skip = no_run.group(1)
            name = str(page.relative_to(ROOT))
            blocks.append(Block(name.removeprefix("docs/"), line, match.group(1), skip))
    return blocks


BLOCKS = _blocks()


def _params() -> Iterator[Any]:
    for block in BLOCKS:
        marks = []
        if block.key in KNOWN_BROKEN:
            marks.append(pytest.mark.xfail(reason=KNOWN_BROKEN[block.key], strict=True))
        yield pytest.param(block, id=f"{block.page}:{block.line}", marks=marks)


# ------------------------------------------------------------------ the servers


class DocsEchoServer:
    """A websockets echo server that ends idle connections with a normal close."""

    IDLE = 0.5

    def __init__(self, loop: BackgroundLoop) -> None:
        self._loop = loop
        self.url = ""

    async def _handler(self, connection: Any) -> None:
        import websockets

        while True:
            try:
                message = await asyncio.wait_for(connection.recv(), self.IDLE)
            except TimeoutError:
                await connection.close(1000, "idle")
                return
            except websockets.ConnectionClosed:
                return
            await connection.send(message)

    def start(self) -> DocsEchoServer:
        from websockets.asyncio.server import serve

        def pick(connection: Any, offered: list[str]) -> str | None:
            return offered[0] if offered else None

        async def start() -> None:
            self._server = await serve(
                self._handler, "127.0.0.1", 0, select_subprotocol=pick, compression="deflate"
            )

        self._loop.run(start())
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        self._loop.run(stop())


@pytest.fixture(scope="module")
def docs_echo(server_loop: BackgroundLoop) -> Iterator[DocsEchoServer]:
    server = DocsEchoServer(server_loop).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def docs_files(
    ca: trustme.CA, ca_file: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("docs-certs")
    client_pem = folder / "client.pem"
    ca.issue_cert("client@example.org").private_key_and_cert_chain_pem.write_to_path(
        str(client_pem)
    )
    return {"/etc/ssl/internal-ca.pem": ca_file, "/etc/ssl/client.pem": str(client_pem)}


def _substitutions(
    echo: str, http: str, https: str, proxy: str, socks: str, files: dict[str, str]
) -> list[tuple[re.Pattern[str], str]]:
    return [
        (re.compile(r"wss?://(?:echo\.example|example\.org)"), echo),
        (re.compile(r"https?://(?:www\.)?example\.org"), http),
        (re.compile(r"https://secure\.example"), https),
        (re.compile(r"http://proxy\.example:3128"), proxy),
        (re.compile(r"socks5://proxy\.example:1080"), socks),
        *((re.compile(re.escape(path)), local) for path, local in files.items()),
    ]


def _imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _binds(tree: ast.Module, name: str) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            return True
    return False


def _uses(tree: ast.Module, name: str) -> bool:
    return any(isinstance(node, ast.Name) and node.id == name for node in ast.walk(tree))


class _Sink:
    def __init__(self) -> None:
        self.parts: list[str | bytes] = []

    def write(self, part: str | bytes) -> None:
        self.parts.append(part)


async def _read_file_in_chunks() -> AsyncIterator[bytes]:
    for _ in range(3):
        yield b"\xff" * 1000


def _placeholders(echo_url: str) -> dict[str, Any]:
    return {
        "__name__": "__docs__",
        "url": echo_url,
        "token": "t0ken",
        "jpeg_bytes": b"\xff\xd8\xff\xe0" + bytes(1000),
        "read_file_in_chunks": _read_file_in_chunks,
        "handle": lambda message: None,
        "sink": _Sink(),
    }


@contextlib.contextmanager
def _recording_websockets() -> Iterator[list[WebSocket]]:
    """Every WebSocket opened meanwhile, so a fragment's are closed before its loop ends.

    A fragment is an excerpt of a longer program, which would close (or drop)
    its WebSockets later; here the loop ends with the block, so the harness
    closes them with a normal close handshake instead of leaking the sockets.
    """
    opened: list[WebSocket] = []
    execute = WebSocketCall.execute

    async def recording(call: WebSocketCall) -> WebSocket:
        ws = await execute(call)
        opened.append(ws)
        return ws

    WebSocketCall.execute = recording  # type: ignore[method-assign]
    try:
        yield opened
    finally:
        WebSocketCall.execute = execute  # type: ignore[method-assign]


async def _fragment(code: Any, tree: ast.Module, echo_url: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        namespace = _placeholders(echo_url)
        if _uses(tree, "client") and not _binds(tree, "client"):
            namespace["client"] = await stack.enter_async_context(Client())
        if _uses(tree, "ws") and not _binds(tree, "ws"):
            opener = namespace.get("client") or await stack.enter_async_context(Client())
            namespace["ws"] = await stack.enter_async_context(opener.websocket(echo_url))
        with _recording_websockets() as opened:
            try:
                result = eval(code, namespace)
                if inspect.iscoroutine(result):
                    await asyncio.wait_for(result, 20)
            finally:
                for ws in opened:
                    await asyncio.wait_for(ws.close(), 5)


@pytest.fixture(autouse=True)
def _collect() -> Iterator[None]:
    """Collect after each block, so a socket it leaked is reported on that block."""
    yield
    gc.collect()


# Which local peer each example host needs, started only for the blocks that use it.
_PEERS = {
    "https://secure.example": "https_server",
    "/etc/ssl/": "docs_files",
    "http://proxy.example:3128": "tinyproxy",
    "socks5://proxy.example:1080": "socks_proxy",
}


@pytest.mark.parametrize("block", list(_params()))
def test_example(
    block: Block,
    docs_echo: DocsEchoServer,
    http_server: Server,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if block.skip:
        pytest.skip(block.skip)
    peers = {
        fixture: request.getfixturevalue(fixture) if marker in block.source else None
        for marker, fixture in _PEERS.items()
    }
    https: Server | None = peers["https_server"]
    proxy: Proxy | None = peers["tinyproxy"]
    socks: Proxy | None = peers["socks_proxy"]
    source = block.source
    for pattern, local in _substitutions(
        docs_echo.url,
        http_server.url,
        https.url if https else "https://secure.example",
        proxy.url if proxy else "http://proxy.example:3128",
        socks.url if socks else "socks5://proxy.example:1080",
        peers["docs_files"] or {},
    ):
        source = pattern.sub(local, source)
    tree = ast.parse(source, mode="exec")
    missing = sorted(
        name for name in _imports(tree) & OPTIONAL if importlib.util.find_spec(name) is None
    )
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (the bench group has them)")
    filename = f"{block.page}:{block.line}"
    monkeypatch.syspath_prepend(str(EXAMPLE_ENGINE))
    if re.search(r"\b(asyncio|anyio|trio|uvloop)\.run\(", source):
        # A complete program: run as written, in a thread so its event loop is its own.
        errors: list[BaseException] = []

        def run() -> None:
            try:
                exec(compile(source, filename, "exec"), {"__name__": "__main__"})
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(40)
        assert not thread.is_alive(), f"{filename} did not finish within 40 s"
        if errors:
            raise errors[0]
        return
    code = compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    asyncio.run(_fragment(code, tree, docs_echo.url))
