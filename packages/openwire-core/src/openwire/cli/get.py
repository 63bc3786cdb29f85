"""``openwire get URL``: one HTTP call through the same client stack as the WebSockets.

Useful on its own (curl-like), and for checking that a server, proxy or CA
bundle works before blaming the WebSocket upgrade. Like curl, an HTTP error
status is still a successful exchange (exit 0) unless ``--fail`` is given.
"""

from __future__ import annotations

import argparse
import sys

import anyio

from openwire.cli.common import (
    EXIT_CLOSED_ABNORMALLY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    add_client_flags,
    client_settings,
    explain,
    parse_headers,
)
from openwire.cli.output import Output
from openwire.client import Client
from openwire.config import Timeouts
from openwire.errors import OpenWireError
from openwire.http.models import Request, Response

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "get",
        help="make an HTTP request and print the body (and headers with -i)",
        description=(
            "Make one HTTP request. The body goes to stdout; -i adds the status "
            "line and headers. Exit status: 0 when a response arrived (any status "
            "unless --fail), 1 when the request failed or, with --fail, for a status "
            ">= 400, 2 for a usage error."
        ),
    )
    parser.add_argument("url", help="http:// or https:// URL")
    parser.add_argument(
        "-X", "--request", dest="method", metavar="METHOD", help="default GET, or POST with -d"
    )
    parser.add_argument(
        "-d",
        "--data",
        metavar="DATA",
        help="request body; @FILE reads a file, @- reads stdin",
    )
    parser.add_argument(
        "-i", "--include", action="store_true", help="print the status line and headers"
    )
    parser.add_argument(
        "-f", "--fail", action="store_true", help="exit 1 when the status is 400 or more"
    )
    parser.add_argument("--no-follow", action="store_true", help="do not follow redirects")
    parser.add_argument(
        "-m",
        "--max-time",
        type=float,
        metavar="SECONDS",
        help="give up (exit 1) when the whole request, body included, takes longer",
    )
    parser.add_argument("--http2", action="store_true", help="offer HTTP/2 on https")
    add_client_flags(parser)


def _body(data: str | None) -> bytes | None:
    if data is None:
        return None
    if data == "@-":
        return sys.stdin.buffer.read()
    if data.startswith("@"):
        try:
            with open(data[1:], "rb") as file:
                return file.read()
        except OSError as exc:
            raise UsageError(f"-d {data}: {exc.strerror}") from exc
    return data.encode("utf-8")


def _print_head(response: Response, output: Output) -> None:
    style = output.style
    colour = "green" if response.status < 400 else "red"
    output.print(
        style(f"{response.http_version} {response.status} {response.reason}", colour, "bold")
    )
    for name, value in response.headers.items():
        output.print(f"{style(name, 'cyan')}: {value}")
    output.print()


async def _run(args: argparse.Namespace, output: Output) -> int:
    output.restart_clock()
    scheme = args.url.partition("://")[0].lower()
    if scheme in ("ws", "wss"):
        raise UsageError(
            f"openwire get makes HTTP requests; for the WebSocket at {args.url} use: "
            f"openwire ws {args.url}"
        )
    if scheme not in ("http", "https"):
        raise UsageError(f"openwire get takes an http:// or https:// URL, got {args.url!r}")
    if args.max_time is not None and args.max_time <= 0:
        raise UsageError(f"--max-time must be a positive number of seconds, got {args.max_time}")
    content = _body(args.data)
    method = (args.method or ("POST" if content is not None else "GET")).upper()
    settings = client_settings(args, output)
    settings["follow_redirects"] = not args.no_follow
    settings["http2"] = args.http2
    if args.max_time is not None:
        settings["timeouts"] = Timeouts(connect=args.connect_timeout, call=args.max_time)
    headers = parse_headers(args.header)
    try:
        request = Request(method, args.url, headers=headers, content=content)
    except ValueError as exc:  # not a URL: the command line's fault
        raise UsageError(str(exc)) from exc
    async with Client(**settings) as client:
        try:
            response = await client.execute(request)
            async with response:
                if args.include:
                    _print_head(response, output)
                async for chunk in response.aiter_bytes():
                    output.write_bytes(chunk)
        except OpenWireError as exc:
            output.error(f"{method} {args.url} failed: {explain(exc)}")
            return EXIT_FAILED
    if args.fail and response.status >= 400:
        output.error(f"{method} {args.url}: {response.status} {response.reason}")
        return EXIT_CLOSED_ABNORMALLY
    return EXIT_OK


def run(args: argparse.Namespace, output: Output) -> int:
    backend = "trio" if args.trio else "asyncio"
    try:
        return anyio.run(_run, args, output, backend=backend)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
