"""``openwire engines``: what is installed, what would be used, and why.

Engines arrive as plugins, so "which engine am I actually running, and why
not the one I installed?" is the first support question. This answers it
without writing code: every engine with its distribution and capabilities,
the selection the current configuration makes, and the plugins that failed
to load or clash over a name.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from openwire.cli.common import EXIT_CLOSED_ABNORMALLY, EXIT_OK
from openwire.cli.output import Output
from openwire.engines.registry import ENV_VAR, EngineInfo, EngineRegistry, registry
from openwire.errors import EngineError

__all__ = ["add_parser", "run", "table"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "engines",
        help="list installed WebSocket engines and which one is selected",
        description=(
            f"List every installed WebSocket engine, the one selected by the current "
            f"configuration ({ENV_VAR}, else the default) and why, and any plugin that "
            "failed to load or conflicts with another. Exit status 1 when the selected "
            "engine is not usable."
        ),
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def table(rows: list[list[str]], output: Output, header_style: tuple[str, ...] = ("bold",)) -> None:
    """Left-aligned columns; padding is computed before colour so escapes do not skew it."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        line = "  ".join(cells).rstrip()
        output.print(output.style(line, *header_style) if index == 0 else line)


def _engine_dict(info: EngineInfo, selected: str) -> dict[str, Any]:
    caps = info.capabilities
    return {
        "name": info.name,
        "distribution": info.distribution,
        "version": info.version,
        "plugin": info.plugin,
        "extensions": list(caps.extensions),
        "backends": list(caps.backends),
        "selected": info.name == selected,
    }


def run(args: argparse.Namespace, output: Output, engines: EngineRegistry = registry) -> int:
    installed = engines.engines()
    failures = engines.failures()
    conflicts = engines.conflicts()
    selected, why = engines.select(None, None)
    problem: str | None = None
    try:
        engines.get(selected)
    except EngineError as exc:
        problem = str(exc)

    if args.json:
        document = {
            "engines": [_engine_dict(info, selected) for info in installed],
            "selected": {"name": selected, "why": why, "error": problem},
            "failures": [vars(f) for f in failures],
            "conflicts": {
                name: [f"{i.distribution} {i.version}" for i in infos]
                for name, infos in conflicts.items()
            },
        }
        output.print(json.dumps(document, indent=2))
        return EXIT_OK if problem is None else EXIT_CLOSED_ABNORMALLY

    style = output.style
    if installed:
        rows = [["", "ENGINE", "DISTRIBUTION", "VERSION", "EXTENSIONS", "BACKENDS"]]
        for info in installed:
            caps = info.capabilities
            rows.append(
                [
                    "*" if info.name == selected else "",
                    info.name,
                    info.distribution,
                    info.version,
                    ", ".join(caps.extensions) or "-",
                    ", ".join(caps.backends) or "-",
                ]
            )
        table(rows, output)
    else:
        output.print(style("no WebSocket engine is installed", "red"))

    output.print()
    verdict = (
        style(selected, "green", "bold") if problem is None else style(selected, "red", "bold")
    )
    output.print(f"selected: {verdict} ({why})")
    if problem is not None:
        output.print(style(f"  not usable: {problem}", "red"))
    else:
        output.print(
            style(f"  override per run with {ENV_VAR}=NAME or 'openwire ws --engine NAME'", "dim")
        )

    if failures:
        output.print()
        output.print(style("broken plugins:", "yellow", "bold"))
        for failure in failures:
            output.print(
                f"  {failure.plugin} from {failure.distribution} {failure.version}: {failure.error}"
            )
    if conflicts:
        output.print()
        output.print(
            style(
                "conflicts (engines disabled until all but one is uninstalled):", "yellow", "bold"
            )
        )
        for name, infos in conflicts.items():
            owners = ", ".join(f"{i.distribution} {i.version}" for i in infos)
            output.print(f"  {name}: {owners}")
    return EXIT_OK if problem is None else EXIT_CLOSED_ABNORMALLY
