"""What ``ws`` and ``get`` share: client settings from flags, headers, error text."""

from __future__ import annotations

import argparse
import os
from typing import Any

from openwire.cli.events import PrintingEventListener
from openwire.cli.output import Output
from openwire.config import Timeouts
from openwire.errors import (
    ConnectionClosed,
    EngineNotFound,
    EngineUnavailable,
    OpenWireError,
    UnexpectedStatus,
)

__all__ = [
    "EXIT_CLOSED_ABNORMALLY",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_client_flags",
    "client_settings",
    "explain",
    "is_usage_error",
    "parse_headers",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CLOSED_ABNORMALLY = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A flag value that argparse could not check by itself."""


def is_usage_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the command line asked for something impossible.

    An engine that is not installed, or that cannot run on the chosen event
    loop (``--engine aiohttp --trio``), is the flags' fault, not the
    server's: exit 2, like any other usage error.
    """
    return isinstance(exc, EngineNotFound | EngineUnavailable)


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add a request header (repeatable)",
    )
    group.add_argument("--proxy", metavar="URL", help="http://, https:// or socks5:// proxy")
    group.add_argument(
        "-k", "--insecure", action="store_true", help="do not verify TLS certificates"
    )
    group.add_argument("--cacert", metavar="PATH", help="CA bundle file or directory to trust")
    group.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="SECONDS", help="default 10"
    )
    group.add_argument(
        "--trio", action="store_true", help="run on trio instead of asyncio (needs trio)"
    )
    group.add_argument(
        "--events",
        action="store_true",
        help="print the EventListener lifecycle (DNS, connect, TLS, frames ...) on stderr",
    )


def parse_headers(values: list[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"header {value!r} is not in the form 'Name: value'")
        headers.append((name.strip(), rest.strip()))
    return headers


def client_settings(args: argparse.Namespace, output: Output) -> dict[str, Any]:
    """``Client(**settings)`` for the flags; the flags a user passes beat the environment."""
    settings: dict[str, Any] = {
        "timeouts": Timeouts(connect=args.connect_timeout),
    }
    if args.proxy:
        settings["proxy"] = args.proxy
    if args.insecure and args.cacert:
        raise UsageError("--insecure and --cacert contradict each other; pick one")
    if args.insecure:
        settings["verify"] = False
    elif args.cacert:
        if not os.path.exists(args.cacert):
            raise UsageError(f"--cacert {args.cacert!r}: no such file or directory")
        settings["verify"] = args.cacert
    if args.events:
        settings["event_listener_factory"] = lambda: PrintingEventListener(output)
    return settings


def explain(exc: BaseException) -> str:
    """One line that says what failed, including the server's answer to a refused upgrade."""
    if isinstance(exc, UnexpectedStatus):
        text = f"{exc}"
        body = " ".join(exc.body.decode("utf-8", "replace").split())
        if body:
            preview = body if len(body) <= 200 else body[:197] + "..."
            text += f"\n  server said: {preview}"
        return text
    if isinstance(exc, ConnectionClosed):
        # The close's own explanation (why the connection was failed) is its message.
        return f"{exc} ({type(exc).__name__})"
    if isinstance(exc, OpenWireError):
        return f"{exc} ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"
