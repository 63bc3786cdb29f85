"""``openwire ws URL``: talk to a WebSocket server from the terminal or a script.

Stdin lines go out as messages, incoming messages are printed with their
direction, type, size and time. On a terminal the line is typed at a prompt
(:mod:`openwire.cli.prompt`: readline editing and history) that incoming
messages do not tear, and a few commands are understood: ``/ping [text]``,
``/close [code] [reason]``, ``/quit`` and ``/help`` (``//`` sends a line
that starts with ``/``). Piped stdin is sent as it is, commands included,
so a script's lines are never taken for commands.

The exit status tells a script how the connection ended: 0 for a normal
close (1000/1001), 1 when the server closed with another code, the
connection dropped or never opened, or a ``--json`` line was not JSON, 2 for
a usage error (a bad URL or header, an engine that is not installed), 130
after Ctrl-C (which still closes politely with 1001). The message on stderr
keeps the library's own explanation (why a connection was failed with 1009,
what the server answered instead of 101).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio

from openwire.cli.common import (
    EXIT_CLOSED_ABNORMALLY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_client_flags,
    client_settings,
    explain,
    is_usage_error,
    parse_headers,
)
from openwire.cli.output import Output, format_duration, format_size
from openwire.cli.prompt import LinePrompt
from openwire.cli.stdin import stdin_lines
from openwire.client import Client
from openwire.errors import ConnectionClosed, ConnectionClosedError, OpenWireError
from openwire.http.models import Request
from openwire.websocket.call import websocket_url
from openwire.websocket.connection import WebSocket

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ws",
        help="interactive WebSocket client (stdin lines out, messages in)",
        description=(
            "Connect to a WebSocket server. Each line read on stdin is sent as a "
            "message; every received message is printed. At EOF the connection "
            "is closed with 1000 after a short grace period for replies. On a "
            "terminal, lines are edited at a prompt, and /ping [text], "
            "/close [code] [reason], /quit and /help are commands. "
            "Exit status: 0 normal close, 1 abnormal close, connection failure or "
            "invalid --json input, 2 usage error, 130 interrupted."
        ),
    )
    parser.add_argument("url", help="ws://, wss://, http:// or https:// URL")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--binary", action="store_true", help="send lines as binary messages")
    mode.add_argument(
        "--json",
        action="store_true",
        help="refuse lines that are not JSON; pretty-print JSON messages received",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="send stdin, print the first message received, close with 1000 and exit",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="with --once: give up (exit 1) if no message arrives within this time",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="after stdin ends, wait this long for replies before closing (default 1)",
    )
    parser.add_argument(
        "--engine", metavar="NAME", help="WebSocket engine (see 'openwire engines')"
    )
    parser.add_argument(
        "--compression",
        choices=("deflate", "none"),
        help="offer permessage-deflate, or not (default: deflate)",
    )
    parser.add_argument(
        "--http-version",
        choices=("auto", "1.1", "2"),
        help=(
            "HTTP version of the handshake: '2' is an extended CONNECT on an HTTP/2 "
            "connection (RFC 8441), 'auto' falls back to 1.1 (default: 1.1)"
        ),
    )
    parser.add_argument(
        "--subprotocol",
        "-s",
        action="append",
        default=[],
        metavar="NAME",
        help="offer a subprotocol (repeatable, in preference order)",
    )
    parser.add_argument(
        "--ping-interval",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="heartbeat ping interval; 0 disables it (default 20)",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=16 * 1024 * 1024,
        metavar="BYTES",
        help="largest message to receive or send (default 16 MiB)",
    )
    parser.add_argument(
        "--handshake-timeout", type=float, default=10.0, metavar="SECONDS", help="default 10"
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="print message payloads only, no headers"
    )
    add_client_flags(parser)


@dataclass
class _Outcome:
    interrupted: bool = False
    timed_out: bool = False
    invalid_input: bool = False
    error: ConnectionClosed | None = None


class _Session:
    """One connected conversation: stdin → server, server → stdout, signals → close."""

    def __init__(
        self,
        ws: WebSocket,
        args: argparse.Namespace,
        output: Output,
        prompt: LinePrompt | None = None,
    ) -> None:
        self.ws = ws
        self.args = args
        self.output = output
        self.prompt = prompt
        self.outcome = _Outcome()
        self.first_message = anyio.Event()

    # -- printing ------------------------------------------------------------
    def show(self, direction: str, data: str | bytes) -> None:
        body = _render(data, pretty=self.args.json)
        if self.args.quiet:
            self.output.print(body)
            return
        style = self.output.style
        kind = "text" if isinstance(data, str) else "binary"
        size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        arrow = style(direction, "cyan" if direction == "<" else "blue", "bold")
        size_text = style(format_size(size), "dim")
        head = f"{arrow} {style(stamp, 'dim')} {style(kind, 'yellow')} {size_text}"
        separator = "\n" if "\n" in body else " "
        self.output.print(f"{head}{separator}{body}")

    # -- tasks ---------------------------------------------------------------
    async def receive(self, scope: anyio.CancelScope) -> None:
        try:
            async for message in self.ws:
                if self.args.once and self.first_message.is_set():
                    continue
                self.show("<", message.data)
                self.first_message.set()
        except ConnectionClosedError as exc:
            self.outcome.error = exc
        scope.cancel()

    async def send_one(self, line: bytes) -> bool:
        """Send one line; False once the connection is closed."""
        data = self.encode(line)
        if data is None:
            return True
        try:
            await self.ws.send(data)
        except ConnectionClosed:
            return False  # the receiver reports how it ended
        except OpenWireError as exc:
            self.output.error(explain(exc))
            return True
        if not self.args.quiet:
            self.show(">", data)
        return True

    async def send(self) -> None:
        if self.prompt is not None:
            await self.interact(self.prompt)
            return
        async for line in stdin_lines():
            if not await self.send_one(line):
                return
        await self.finish()

    async def interact(self, prompt: LinePrompt) -> None:
        """Typed lines: commands, or messages (``//`` escapes a leading ``/``)."""
        async for line in prompt.lines():
            if line.startswith("/") and not line.startswith("//"):
                if not await self.command(line):
                    return
                continue
            if not await self.send_one(line.removeprefix("/").encode("utf-8")):
                return
        await self.finish()

    async def command(self, line: str) -> bool:
        """Run an interactive command; False when the conversation is over."""
        name, _, rest = line.partition(" ")
        rest = rest.strip()
        if name == "/ping":
            try:
                rtt = await self.ws.ping(rest.encode("utf-8") or None)
            except ConnectionClosed:
                return False
            except ValueError as exc:  # a payload over 125 bytes
                self.output.error(str(exc))
                return True
            self.output.info(f"pong in {format_duration(rtt)}")
            return True
        if name == "/close":
            code_text, _, reason = rest.partition(" ")
            try:
                code = int(code_text) if code_text else 1000
                await self.ws.close(code, reason.strip())
            except ValueError as exc:
                self.output.error(f"not closed: {exc}; usage: /close [code] [reason]")
                return True
            return False
        if name == "/quit":
            await self.ws.close(1000)
            return False
        if name != "/help":
            self.output.error(f"unknown command {name}")
        self.output.info(
            "commands: /ping [text], /close [code] [reason], /quit; "
            "start a line with // to send one that begins with /"
        )
        return True

    async def finish(self) -> None:
        """Input ended: wait for the reply (``--once``) or the grace period, then close."""
        if self.args.once:
            with anyio.move_on_after(self.args.timeout) as waiting:
                await self.first_message.wait()
            self.outcome.timed_out = waiting.cancelled_caught
        else:
            await anyio.sleep(self.args.grace)
        await self.ws.close(1000)

    def encode(self, line: bytes) -> str | bytes | None:
        if self.args.binary:
            return line
        text = line.decode("utf-8", "replace")
        if self.args.json:
            if not text.strip():
                return None
            try:
                json.loads(text)
            except ValueError as exc:
                self.outcome.invalid_input = True
                self.output.error(f"not sent, invalid JSON ({exc}): {text}")
                return None
        return text

    async def watch_signals(self, scope: anyio.CancelScope) -> None:
        with _signal_receiver() as signals:
            async for _ in signals:
                self.outcome.interrupted = True
                self.output.info("interrupted, closing with 1001")
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await self.ws.close(1001)
                scope.cancel()
                return

    async def run(self) -> _Outcome:
        async with anyio.create_task_group() as group:
            group.start_soon(self.receive, group.cancel_scope)
            group.start_soon(self.send)
            group.start_soon(self.watch_signals, group.cancel_scope)
        return self.outcome


@contextlib.contextmanager
def _signal_receiver() -> Iterator[AsyncIterator[signal.Signals]]:
    """SIGINT/SIGTERM as async events, so Ctrl-C can still send a Close frame.

    Where the platform cannot deliver signals to the loop (Windows on
    asyncio), Ctrl-C falls back to KeyboardInterrupt and an abrupt exit.
    """
    with contextlib.ExitStack() as stack:
        signals: AsyncIterator[signal.Signals]
        try:
            signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM))
        except NotImplementedError:
            signals = _never()
        yield signals


async def _never() -> AsyncIterator[signal.Signals]:
    await anyio.sleep_forever()
    yield signal.SIGINT  # pragma: no cover


def _render(data: str | bytes, *, pretty: bool) -> str:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data.hex(" ")
        if not all(c.isprintable() or c in "\r\n\t" for c in text):
            return data.hex(" ")
        data = text
    if pretty:
        try:
            return json.dumps(json.loads(data), indent=2, ensure_ascii=False)
        except ValueError:
            return data
    return data


async def _run(args: argparse.Namespace, output: Output) -> int:
    output.restart_clock()
    try:
        request = Request("GET", websocket_url(args.url), headers=parse_headers(args.header))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    options: dict[str, Any] = {
        "engine": args.engine,
        "subprotocols": tuple(args.subprotocol),
        "ping_interval": args.ping_interval or None,
        "max_message_size": args.max_size,
        "max_frame_size": args.max_size,
        "handshake_timeout": args.handshake_timeout,
        "close_timeout": 5.0,
    }
    if args.compression is not None:
        options["compression"] = None if args.compression == "none" else args.compression
    settings = client_settings(args, output)
    if args.http_version is not None:
        options["http_version"] = args.http_version
        if args.http_version != "1.1":
            settings["http2"] = True  # offer h2 in ALPN
    async with Client(**settings) as client:
        try:
            call = client.new_websocket(request, **options)
        except ValueError as exc:  # e.g. -H with a header the handshake sets itself
            raise UsageError(str(exc)) from exc
        try:
            ws = await call.execute()
        except OpenWireError as exc:
            if is_usage_error(exc):  # e.g. --engine names one that is not installed
                output.error(str(exc))
                return EXIT_USAGE
            output.error(f"could not connect to {args.url}: {explain(exc)}")
            return EXIT_FAILED
        details = [f"engine {ws.engine}", f"HTTP/{ws.http_version}"]
        if ws.subprotocol:
            details.append(f"subprotocol {ws.subprotocol}")
        if ws.extensions:
            details.append(f"extensions {', '.join(ws.extensions)}")
        output.success(f"connected to {args.url} ({', '.join(details)})")
        prompt = LinePrompt("> ") if _interactive(args) else None
        if prompt is not None:
            output.info(
                "type a message and press Enter; /help lists the commands; "
                "Ctrl-D closes, Ctrl-C quits"
            )
            output.above = prompt.above
        try:
            outcome = await _Session(ws, args, output, prompt).run()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await ws.close(1001)
            if prompt is not None:
                prompt.close()
                output.above = contextlib.nullcontext
    return _report(ws, outcome, output)


def _report(ws: WebSocket, outcome: _Outcome, output: Output) -> int:
    code = ws.close_code
    reason = ws.close_reason
    if outcome.error is not None:
        code, reason = outcome.error.code, outcome.error.reason
    described = f"{code}" + (f" ({reason})" if reason else "")
    if outcome.interrupted:
        output.info(f"closed with {described}")
        return EXIT_INTERRUPTED
    if outcome.timed_out:
        output.error(f"no message arrived before --timeout; closed with {described}")
        return EXIT_CLOSED_ABNORMALLY
    if code in (1000, 1001):
        output.info(f"closed normally with {described}")
        if outcome.invalid_input:
            output.error("some --json input lines were not JSON and were not sent")
            return EXIT_FAILED
        return EXIT_OK
    who = ""
    if outcome.error is not None and outcome.error.by_peer is not None:
        who = " by the server" if outcome.error.by_peer else " locally"
    explanation = ""
    error = outcome.error or ws.close_error
    if error is not None and not str(error).startswith("WebSocket closed"):
        explanation = f": {error}"  # the library's own account of why (e.g. a 1009's limit)
    output.error(f"connection closed{who} with code {described}{explanation}")
    return EXIT_CLOSED_ABNORMALLY


def _interactive(args: argparse.Namespace) -> bool:
    """A person at a terminal: stdin and stdout both on it, and not a one-shot ``--once``."""
    if args.once:
        return False
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def run(args: argparse.Namespace, output: Output) -> int:
    backend = "trio" if args.trio else "asyncio"
    try:
        return anyio.run(_run, args, output, backend=backend)
    except KeyboardInterrupt:
        output.info("interrupted")
        return EXIT_INTERRUPTED
