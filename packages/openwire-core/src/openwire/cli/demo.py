"""``openwire demo``: prove every installed engine works, in a few seconds.

This is the first command the README asks a new user to run, so it needs no
network, no server and no optional dependency: it starts a local echo server,
holds the same short conversation (text, binary, ping, 1 MiB, close) through
every installed engine, on asyncio, on asyncio with uvloop's loop (when
uvloop is installed) and on trio where the engine supports it and trio is
installed, and prints one table. Each run has its own deadline
so a broken engine shows up as a failed row, never as a hang.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import anyio

from openwire.cli.common import EXIT_CLOSED_ABNORMALLY, EXIT_INTERRUPTED, EXIT_OK
from openwire.cli.demo_server import EchoServer
from openwire.cli.output import Output, format_duration
from openwire.client import Client
from openwire.engines.registry import registry
from openwire.websocket.connection import WebSocket

__all__ = ["STEPS", "add_parser", "run"]

STEPS = ("connect", "text", "binary", "ping", "1 MiB", "close")
RUN_DEADLINE = 5.0
BIG = 1024 * 1024


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a short conversation through every installed engine against a local server",
        description=(
            "Start a local echo server on 127.0.0.1 and run the same conversation "
            "(text, binary, ping, a 1 MiB message, close) through every installed "
            "engine, on asyncio, uvloop and trio where supported. Exit 0 only if all pass."
        ),
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="only run the echo server (until Ctrl-C), to try 'openwire ws' against it",
    )
    parser.add_argument("--port", type=int, default=0, help="port for --serve (default: any free)")


@dataclass
class Result:
    engine: str
    backend: str
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    failed_step: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Mismatch(Exception):
    """The echo did not match what was sent."""


async def _echo(ws: WebSocket, payload: str | bytes) -> None:
    await ws.send(payload)
    echoed = (await ws.receive()).data
    if echoed != payload:
        raise _Mismatch(
            f"echo differs: sent {type(payload).__name__} of {len(payload)}, "
            f"got {type(echoed).__name__} of {len(echoed)}"
        )


async def _close(ws: WebSocket) -> None:
    await ws.close()
    if ws.close_code != 1000:
        raise _Mismatch(f"closed with {ws.close_code}, expected 1000")


async def _conversation(url: str, engine: str, result: Result) -> None:
    """Run the steps in order, timing each; the first failure ends the run."""
    step = "connect"
    try:
        with anyio.fail_after(RUN_DEADLINE):
            async with Client() as client:
                started = time.perf_counter()
                ws = await client.new_websocket(url, engine=engine, ping_interval=None).execute()
                result.timings[step] = time.perf_counter() - started
                steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                    ("text", partial(_echo, ws, "hello from openwire ✓")),
                    ("binary", partial(_echo, ws, bytes(range(256)))),
                    ("ping", ws.ping),
                    ("1 MiB", partial(_echo, ws, os.urandom(BIG))),
                    ("close", partial(_close, ws)),
                ]
                try:
                    for step, action in steps:
                        started = time.perf_counter()
                        await action()
                        result.timings[step] = time.perf_counter() - started
                finally:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                        await ws.close()
    except TimeoutError:
        result.failed_step = step
        result.error = f"no answer within {RUN_DEADLINE:.0f} s"
    except Exception as exc:
        result.failed_step = step
        result.error = f"{type(exc).__name__}: {exc}"


def _run_one(url: str, engine: str, backend: str) -> Result:
    result = Result(engine, backend)
    try:
        if backend == "uvloop":
            anyio.run(
                _conversation,
                url,
                engine,
                result,
                backend="asyncio",
                backend_options={"use_uvloop": True},
            )
        else:
            anyio.run(_conversation, url, engine, result, backend=backend)
    except Exception as exc:  # e.g. the backend itself failed to start
        result.failed_step = result.failed_step or "connect"
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _plan(output: Output) -> list[tuple[str, str]]:
    trio_installed = importlib.util.find_spec("trio") is not None
    uvloop_installed = importlib.util.find_spec("uvloop") is not None
    plan: list[tuple[str, str]] = []
    for info in registry.engines():
        backends = info.capabilities.backends
        if "asyncio" in backends:
            plan.append((info.name, "asyncio"))
            # uvloop is an asyncio loop: what runs on asyncio must run on it.
            if uvloop_installed:
                plan.append((info.name, "uvloop"))
            else:
                output.info(f"{info.name}: uvloop not installed, uvloop run skipped")
        if "trio" in backends:
            if trio_installed:
                plan.append((info.name, "trio"))
            else:
                output.info(f"{info.name}: trio not installed, trio run skipped")
    return plan


def _report(results: list[Result], output: Output) -> None:
    style = output.style
    rows = [
        ["ENGINE", "BACKEND", "RESULT", *(s if "MiB" in s else s.upper() for s in STEPS), "TOTAL"]
    ]
    for result in results:
        timings = [
            format_duration(result.timings[s]) if s in result.timings else "-" for s in STEPS
        ]
        total = format_duration(sum(result.timings.values()))
        rows.append(
            [result.engine, result.backend, "ok" if result.ok else "FAILED", *timings, total]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        if index == 0:
            output.print(style("  ".join(cells).rstrip(), "bold"))
            continue
        colour = "green" if results[index - 1].ok else "red"
        cells[2] = style(cells[2], colour, "bold")
        output.print("  ".join(cells).rstrip())
    failures = [r for r in results if not r.ok]
    for result in failures:
        output.print(
            style(f"{result.engine}/{result.backend} failed at {result.failed_step}: ", "red")
            + (result.error or "")
        )


def _serve(args: argparse.Namespace, output: Output) -> int:
    server = EchoServer(port=args.port)

    def announce() -> None:
        output.success(f"echo server listening on {server.url} (Ctrl-C to stop)")
        output.info(f"try: openwire ws {server.url}")
        output.info(f"or:  openwire ws '{server.url}/close?code=4001&reason=bye'")

    try:
        asyncio.run(server.serve_forever(announce))
    except KeyboardInterrupt:
        return EXIT_OK
    except OSError as exc:
        output.error(f"cannot listen on port {args.port}: {exc.strerror}")
        return EXIT_CLOSED_ABNORMALLY
    return EXIT_OK


def run(args: argparse.Namespace, output: Output) -> int:
    if args.serve:
        return _serve(args, output)
    plan = _plan(output)
    if not plan:
        output.error("no WebSocket engine is installed; see 'openwire engines'")
        return EXIT_CLOSED_ABNORMALLY
    started = time.perf_counter()
    results: list[Result] = []
    try:
        with EchoServer() as server:
            output.info(f"echo server on {server.url}")
            for engine, backend in plan:
                results.append(_run_one(server.url, engine, backend))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    _report(results, output)
    passed = sum(r.ok for r in results)
    elapsed = format_duration(time.perf_counter() - started)
    summary = f"{passed}/{len(results)} runs passed in {elapsed}"
    if passed == len(results):
        output.success(summary)
        return EXIT_OK
    output.error(summary)
    return EXIT_CLOSED_ABNORMALLY
