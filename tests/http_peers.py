"""HTTP peers: hypercorn over plain TCP and TLS, a raw scripted server, tinyproxy, microsocks.

All servers run on the session's background loop (``server_loop``) so one
instance serves clients on both asyncio and trio.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config
from openwire.events import EVENT_NAMES, EventListener
from openwire.http.models import Response
from openwire.testing.servers import BackgroundLoop

from tests.http.app import app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int


def _start_hypercorn(loop: BackgroundLoop, config: Config) -> Callable[[], None]:
    stop = asyncio.Event()
    task: list[asyncio.Future[None]] = []

    async def start() -> None:
        task.append(asyncio.ensure_future(serve(app, config, shutdown_trigger=stop.wait)))  # type: ignore[arg-type]

    async def shutdown() -> None:
        stop.set()
        await asyncio.wait_for(task[0], 10)

    loop.run(start())
    return lambda: loop.run(shutdown())


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"test server on port {port} did not start")


def _hypercorn(loop: BackgroundLoop, certs: tuple[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    config.keep_alive_timeout = 30
    config.graceful_timeout = 1
    scheme = "http"
    if certs is not None:
        config.certfile, config.keyfile = certs
        config.alpn_protocols = ["h2", "http/1.1"]
        scheme = "https"
    stop = _start_hypercorn(loop, config)
    _wait_listening(port)
    yield Server(f"{scheme}://127.0.0.1:{port}", port)
    stop()


@pytest.fixture(scope="session")
def http_server(server_loop: BackgroundLoop) -> Iterator[Server]:
    yield from _hypercorn(server_loop)


@pytest.fixture(scope="session")
def other_http_server(server_loop: BackgroundLoop) -> Iterator[Server]:
    """A second origin, for cross-origin redirects."""
    yield from _hypercorn(server_loop)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def https_server(
    server_loop: BackgroundLoop, ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("server-cert")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    yield from _hypercorn(server_loop, (str(certfile), str(keyfile)))


@pytest.fixture
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


# --------------------------------------------------------------- scripted server


Handler = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawServer:
    url: str
    connections: list[int]


@pytest.fixture
def raw_server(server_loop: BackgroundLoop) -> Iterator[Callable[[Handler], RawServer]]:
    """Start a TCP server whose handler gets (connection index, reader, writer).

    The teardown closes the listening sockets and also ends the handlers still
    running (one sleeping on a connection the client gave up on), so no
    accepted connection outlives its test.
    """
    servers: list[asyncio.base_events.Server] = []
    handlers: set[asyncio.Task[None]] = set()

    def start(handler: Handler) -> RawServer:
        connections: list[int] = []

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            index = len(connections)
            connections.append(index)
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await handler(index, reader, writer)
            except asyncio.CancelledError:
                # The teardown ended it (asyncio 3.11 would log a cancelled handler
                # as an error); the client may have stopped reading, so no flush.
                writer.transport.abort()
            finally:
                handlers.discard(task)
                writer.close()

        async def open_server() -> asyncio.base_events.Server:
            return await asyncio.start_server(on_connect, "127.0.0.1", 0)

        server = server_loop.run(open_server())
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return RawServer(f"http://127.0.0.1:{port}", connections)

    yield start

    async def close_all() -> None:
        for server in servers:
            server.close()
        running = list(handlers)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await asyncio.sleep(0)  # the aborted transports release their sockets

    server_loop.run(close_all())


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


# -------------------------------------------------------------------- tinyproxy


@dataclass
class Proxy:
    url: str
    port: int


def _debian_binary(name: str, package: str) -> str:
    """``name`` on PATH, installing Debian's ``package`` first if needed (fresh machines, CI)."""
    found = shutil.which(name)
    if found:
        return found
    install = ["apt-get", "install", "-y", package]
    try:
        if subprocess.run(install, capture_output=True, timeout=300).returncode != 0:
            # A fresh machine has no package lists yet.
            subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=300)
            subprocess.run(install, check=True, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.fail(
            f"the proxy tests need {package} and 'apt-get install -y {package}' failed ({exc}); "
            "install it by hand and rerun"
        )
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{package} was installed but {name} is not on PATH")
    return found


def run_tinyproxy(
    tmp_path_factory: pytest.TempPathFactory, extra: list[str] | None = None
) -> Iterator[Proxy]:
    """tinyproxy on loopback; ``extra`` configuration lines (e.g. ``BasicAuth user pass``)."""
    binary = _debian_binary("tinyproxy", "tinyproxy")
    port = free_port()
    folder: Path = tmp_path_factory.mktemp("tinyproxy")
    conf = folder / "tinyproxy.conf"
    conf.write_text(
        "\n".join(
            [
                "User nobody",
                "Group nogroup",
                f"Port {port}",
                "Listen 127.0.0.1",
                "Timeout 30",
                "MaxClients 50",
                "Allow 127.0.0.1",
                "LogLevel Critical",
                *(extra or []),
                "",
            ]
        )
    )
    yield from _serve([binary, "-d", "-c", str(conf)], Proxy(f"http://127.0.0.1:{port}", port))


@pytest.fixture(scope="session")
def tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    yield from run_tinyproxy(tmp_path_factory)


@pytest.fixture(scope="session")
def socks_proxy() -> Iterator[Proxy]:
    """microsocks, a real SOCKS5 server, on loopback."""
    binary = _debian_binary("microsocks", "microsocks")
    port = free_port()
    command = [binary, "-i", "127.0.0.1", "-p", str(port)]
    yield from _serve(command, Proxy(f"socks5://127.0.0.1:{port}", port))


def _serve(command: list[str], proxy: Proxy) -> Iterator[Proxy]:
    """Run ``command`` until the fixture ends; fail the test with its output if it never listens."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # Leaving the block closes the output pipe and reaps the process.
    with process:
        try:
            _wait_listening(proxy.port)
        except RuntimeError:
            process.kill()
            output = process.communicate()[0].decode(errors="replace")
            pytest.fail(f"{Path(command[0]).name} did not start: {output}")
        try:
            yield proxy
        finally:
            process.terminate()
            process.wait(5)


# -------------------------------------------------------------------- listeners


class Recorder(EventListener):
    """Records every event as (name, args)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[object, ...]]] = []

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def args(self, name: str) -> tuple[object, ...]:
        return next(args for n, args in self.events if n == name)


def _recording(name: str) -> Callable[..., None]:
    def record(self: Recorder, *args: object) -> None:
        # Keep no Response alive: the garbage-collection test relies on that.
        kept = tuple(repr(a) if isinstance(a, Response) else a for a in args)
        self.events.append((name, kept))

    record.__name__ = name
    return record


for _name in EVENT_NAMES:
    setattr(Recorder, _name, _recording(_name))


@pytest.fixture
def recorders() -> list[Recorder]:
    return []


@pytest.fixture
def recorder_factory(recorders: list[Recorder]) -> Callable[[], Recorder]:
    def make() -> Recorder:
        recorder = Recorder()
        recorders.append(recorder)
        return recorder

    return make


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the host's proxy variables out of tests that do not set their own."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
