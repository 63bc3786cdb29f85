"""Peers for the CLI tests, and two ways to run the command.

``run_cli`` starts a separate process (``python -m openwire.cli``) so that
what is tested is what a user gets: the entry point, stdin handling, exit
statuses, what ends up on stdout versus stderr. Importing the client stack
costs about a second per process, so the finer-grained checks use the
``cli`` fixture instead: the same ``main(argv)`` in this process, with a real
pipe as stdin and the real stdout/stderr captured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from openwire.cli.demo_server import EchoServer as DemoEchoServer
from openwire.cli.main import main
from openwire.testing.servers import BackgroundLoop
from openwire.testing.servers import EchoServer as WebsocketsEchoServer


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str, input: str = "", timeout: float = 20, env: dict[str, str] | None = None
) -> Result:
    environment = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    environment.pop("FORCE_COLOR", None)
    if env is None or "OPENWIRE_WEBSOCKET_ENGINE" not in env:
        environment.pop("OPENWIRE_WEBSOCKET_ENGINE", None)
    completed = subprocess.run(
        [sys.executable, "-m", "openwire.cli", *args],
        input=input.encode(),
        capture_output=True,
        timeout=timeout,
        env=environment,
        check=False,
    )
    return Result(
        completed.returncode,
        completed.stdout.decode("utf-8", "replace"),
        completed.stderr.decode("utf-8", "replace"),
    )


Runner = Callable[..., Result]


@pytest.fixture
def cli(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Runner]:
    """``cli(*argv, input="", env={})`` runs ``main(argv)`` here, stdin fed from a pipe."""
    opened: list[object] = []

    def run(*args: str, input: str = "", env: dict[str, str] | None = None) -> Result:
        monkeypatch.delenv("OPENWIRE_WEBSOCKET_ENGINE", raising=False)
        monkeypatch.setenv("NO_COLOR", "1")
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        read_end, write_end = os.pipe()
        os.write(write_end, input.encode())
        os.close(write_end)
        stdin = open(read_end, encoding="utf-8")  # noqa: SIM115 - closed at teardown
        opened.append(stdin)
        monkeypatch.setattr(sys, "stdin", stdin)
        capfd.readouterr()
        code = main(list(args))
        captured = capfd.readouterr()
        return Result(code, captured.out, captured.err)

    yield run
    for stdin in opened:
        stdin.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoEchoServer]:
    """The dependency-free echo server that ``openwire demo`` itself uses."""
    with DemoEchoServer() as server:
        yield server


@pytest.fixture(scope="session")
def websockets_server() -> Iterator[WebsocketsEchoServer]:
    """A third-party server, so the CLI is not only checked against our own peer."""
    loop = BackgroundLoop()
    server = WebsocketsEchoServer(loop).start()
    yield server
    server.stop()
    loop.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Test", "yes")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(3)  # the server's own pace: slower than the --max-time under test
            self._reply(200, b"late\n")
        elif self.path == "/hello":
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._reply(200, json.dumps(headers).encode(), "application/json")
        else:
            self._reply(404, b"not found\n")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self._reply(200, f"{self.command} {body.decode()}".encode())

    do_PUT = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def http_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
