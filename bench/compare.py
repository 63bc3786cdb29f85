"""Before/after: two builds of openwire, interleaved, paired ratios of client CPU.

A change to the message path or the handshake is judged against the build
before it on the same machine, in the same minutes: one round runs
``bench/run.py`` once in the *before* checkout and once in the *after*
checkout, alternating which goes first, and the rounds repeat. Each round
gives, per engine and workload, the ratio after/before of client CPU per
operation; the report quotes the median of those paired ratios, which
cancels most of the drift of a shared 2-core VM (load that rises for a
minute hits both builds of a round alike).

Usage (each checkout needs its environment: ``uv sync --all-packages
--group bench`` in it)::

    python3 -m uv run --all-packages --group bench python bench/compare.py \\
        --before /path/to/before-checkout --after . --rounds 10

Writes ``bench/COMPARE.md`` (or ``--report``) and the raw files under
``--out``. A ratio above 1 means the after build spends more CPU per
operation; for idle memory it compares KiB per connection.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ENGINES = "openwire-native,openwire-wsproto,openwire-websockets,openwire-aiohttp"
WORKLOADS = "rt-64b,rt-64t,rt-16k,rt-1m,pipe-64b,pipe-16k,handshake,idle-mem"


def _run(checkout: Path, out: Path, args: argparse.Namespace) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    python = checkout / ".venv/bin/python"
    command = [
        str(python) if python.exists() else sys.executable,
        str(checkout / "bench/run.py"),
        "--quick",
        "--runs",
        "1",
        *(["--duration", str(args.duration)] if args.duration else []),
        "--clients",
        args.clients,
        "--workloads",
        args.workloads,
        "--baseline",
        "none",
        "--out",
        str(out),
    ]
    subprocess.run(command, cwd=checkout, check=True, stdout=subprocess.DEVNULL)
    return max(out.glob("results-*.json"), key=lambda p: p.stat().st_mtime)


def _figures(path: Path) -> dict[tuple[str, str], float]:
    samples = json.loads(path.read_text())["samples"]
    figures: dict[tuple[str, str], float] = {}
    for sample in samples:
        key = (sample["client"], sample["workload"])
        if sample["workload"] == "idle-mem":
            value = sample.get("kib_per_connection") or sample.get("value")
        else:
            value = sample.get("cpu_us_per_op")
        if isinstance(value, (int, float)) and value > 0:
            figures[key] = float(value)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the old build")
    parser.add_argument("--after", type=Path, default=Path("."), help="checkout of the new build")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--duration", type=float, help="seconds per timed window (default: --quick's)"
    )
    parser.add_argument("--clients", default=ENGINES)
    parser.add_argument("--workloads", default=WORKLOADS)
    parser.add_argument("--out", type=Path, default=Path("bench/out/compare"))
    parser.add_argument("--report", type=Path, default=Path("bench/COMPARE.md"))
    args = parser.parse_args()
    before, after = args.before.resolve(), args.after.resolve()
    ratios: dict[tuple[str, str], list[float]] = defaultdict(list)
    started = time.time()
    for index in range(args.rounds):
        order = [("before", before), ("after", after)]
        if index % 2:
            order.reverse()
        results = {
            name: _figures(_run(checkout, args.out / f"{index:02d}-{name}", args))
            for name, checkout in order
        }
        for key, new in results["after"].items():
            old = results["before"].get(key)
            if old:
                ratios[key].append(new / old)
        print(f"round {index + 1}/{args.rounds} done", file=sys.stderr)
    lines = [
        "# Before/after: paired client-CPU ratios",
        "",
        f"`bench/compare.py --rounds {args.rounds}`: before `{_describe(before)}`, after "
        f"`{_describe(after)}`; each round runs both builds (alternating which goes first), "
        f"`--quick` windows, one sample per engine and workload. {time.time() - started:.0f} s.",
        "Figures: median over rounds of after/before client CPU per operation (idle-mem: KiB "
        "per connection), with the lowest and highest round. Above 1.00 = the after build costs "
        "more.",
        "",
        "| engine | workload | median | min | max | rounds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (client, workload), values in sorted(ratios.items()):
        lines.append(
            f"| {client} | {workload} | {statistics.median(values):.3f} | {min(values):.3f} "
            f"| {max(values):.3f} | {len(values)} |"
        )
    args.report.write_text("\n".join(lines) + "\n")
    print(args.report.read_text())


def _describe(checkout: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()[:72] or str(checkout)


if __name__ == "__main__":
    main()
