"""Entry point of the ``openwire`` console script and ``python -m openwire.cli``.

Exit statuses are shared by every subcommand so scripts can rely on them, as
websocat's and wscat's: 0 success or normal close, 1 a failure (the
connection or request failed, an abnormal close, a failed check), 2 a usage
error (a bad flag or URL, an engine that is not installed), 130 interrupted.
The message on stderr says which failure it was.

Global options (``--color``) are accepted before or after the subcommand.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections.abc import Sequence

from openwire._version import __version__
from openwire.cli import demo, engines, get, ws
from openwire.cli.common import EXIT_USAGE, UsageError
from openwire.cli.output import Output

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openwire",
        description="WebSocket and HTTP client on the openwire library.",
        epilog="Start with 'openwire demo', then 'openwire ws wss://host/path'.",
    )
    parser.add_argument("--version", action="version", version=f"openwire {__version__}")
    parser.add_argument(
        "--color",
        "--colour",
        dest="colour",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour output (default: only on a terminal; NO_COLOR is honoured)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (ws, get, engines, demo):
        command.add_parser(subparsers)
    for subparser in subparsers.choices.values():
        # After the subcommand too; SUPPRESS keeps a value given before it.
        subparser.add_argument(
            "--color",
            "--colour",
            dest="colour",
            choices=("auto", "always", "never"),
            default=argparse.SUPPRESS,
            help="colour output (default: only on a terminal; NO_COLOR is honoured)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    output = Output(args.colour)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if getattr(args, "trio", False) and importlib.util.find_spec("trio") is None:
        output.error("--trio needs trio: pip install 'openwire-core[trio]'")
        return EXIT_USAGE
    # Library warnings (e.g. a listener that raised) should reach the user, briefly.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    commands = {"ws": ws.run, "get": get.run, "engines": engines.run, "demo": demo.run}
    try:
        return commands[args.command](args, output)
    except UsageError as exc:
        output.error(str(exc))
        return EXIT_USAGE
    except BrokenPipeError:
        # `openwire get URL | head` closes the pipe early; that is not an error.
        return 0


if __name__ == "__main__":
    sys.exit(main())
