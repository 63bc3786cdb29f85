"""Profile one client on one workload, to find what to optimise in the hot path.

    uv run --all-packages --group bench python bench/profile.py  # openwire-native, rt-64b
    uv run --all-packages --group bench python bench/profile.py --workload pipe-64b --top 25
    uv run --all-packages --group bench python bench/profile.py --pyinstrument  # if installed

The client runs in this process (the profiler must see it) against the same
pinned echo server the benchmark uses, so the profile reflects the benchmark's
hot loop rather than a synthetic one. Throughput printed here is slowed by the
profiler and is not comparable with bench/run.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# This file is named like the stdlib module cProfile imports; with bench/ first
# on sys.path, ``import cProfile`` would load this script again instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.append(str(BENCH_DIR))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402

import clients  # noqa: E402
import procstats  # noqa: E402
from run import echo_server  # noqa: E402
from workloads import BY_NAME, Sample, Timing, run_sample  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Profile one benchmark client/workload.")
    parser.add_argument("--client", default="openwire-native")
    parser.add_argument("--workload", default="rt-64b", choices=sorted(BY_NAME))
    parser.add_argument("--seconds", type=float, default=3.0, help="timed window length")
    parser.add_argument("--top", type=int, default=15, help="functions to print")
    parser.add_argument(
        "--sort", default="tottime", choices=["tottime", "cumulative", "ncalls"], help="pstats key"
    )
    parser.add_argument(
        "--pyinstrument", action="store_true", help="use pyinstrument's call tree instead"
    )
    parser.add_argument("--server", default="auto", choices=["auto", "picows", "websockets"])
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args(argv)

    installed = clients.available_clients()
    if args.client not in installed:
        raise SystemExit(f"client {args.client!r} is not installed; have {installed}")
    if args.pyinstrument and importlib.util.find_spec("pyinstrument") is None:
        raise SystemExit("pyinstrument is not installed; drop --pyinstrument to use cProfile")
    workload = BY_NAME[args.workload]
    timing = Timing(warmup=0.2, duration=args.seconds, idle_connections=200)
    procstats.raise_fd_limit()
    clients.preload([args.client])
    cores = None if args.no_pin else procstats.core_plan()

    with echo_server(args.server, cores[1] if cores else None) as server:
        if cores:
            os.sched_setaffinity(0, {cores[0]})

        def measure() -> Sample:
            return asyncio.run(
                run_sample(args.client, workload, 0, server.endpoints, timing, server.pid)
            )

        if args.pyinstrument:
            profiler = importlib.import_module("pyinstrument").Profiler(interval=0.0005)
            profiler.start()
            sample = measure()
            profiler.stop()
            report = profiler.output_text(unicode=True, color=False, show_all=False)
        else:
            prof = cProfile.Profile()
            prof.enable()
            sample = measure()
            prof.disable()
            buffer = io.StringIO()
            stats = pstats.Stats(prof, stream=buffer)
            stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
            report = buffer.getvalue()

    if sample.error:
        print(f"{args.client} {workload.name} failed: {sample.error}", file=sys.stderr)
        return 1
    cpu = sample.cpu_us_per_op
    print(
        f"{args.client} {workload.name} under the profiler: {sample.value:,.1f} {workload.unit}"
        + (f", {cpu:.1f} µs CPU per op" if cpu is not None and workload.kind != "memory" else "")
        + f" (echo server: {server.impl})\n"
    )
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
