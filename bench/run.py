"""Run the whole WebSocket client benchmark with one command.

    uv run --all-packages --group bench python bench/run.py          # ~35 min -> bench/RESULTS.md
    uv run --all-packages --group bench python bench/run.py --quick  # ~5 min -> bench/out/
    uv run --all-packages python bench/run.py --smoke --out DIR      # seconds, dev group only

Design choices that make the numbers trustworthy on a small machine:

* The echo server is a separate process pinned to its own core and the
  workers to the other, so the two never compete for a CPU; the server's CPU
  use is recorded for every sample to show it has headroom.
* Each client x workload sample runs in a fresh forked worker. Libraries are
  imported once in the runner before forking, so workers start in
  milliseconds (a fresh interpreter per sample would eat the ``--quick``
  budget in imports) yet share no event loop, connection or heap growth.
* Repeats are interleaved (repeat -> workload -> clients in rotated order)
  so slow drift of the machine hits every client alike, and ratios are taken
  between samples of the same repeat before the median is taken.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# An earlier full run the report compares against (before/after); replace it to move the mark.
DEFAULT_BASELINE = BENCH_DIR / "baseline" / "results-full-20261126T235927Z.json"
# bench/profile.py would shadow the stdlib ``profile`` that cProfile imports,
# so the sibling modules are found last.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.append(str(BENCH_DIR))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import datetime as dt  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import multiprocessing.connection  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Coroutine, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import clients  # noqa: E402
import procstats  # noqa: E402
import report  # noqa: E402
from clients import FLOOR  # noqa: E402
from workloads import (  # noqa: E402
    BY_NAME,
    WORKLOADS,
    Endpoints,
    Sample,
    Timing,
    Workload,
    run_sample,
)

SMOKE_CLIENTS = ("openwire-native", "websockets")
SMOKE_WORKLOADS = (
    "rt-64b",
    "pipe-64b",
    "handshake",
    "idle-mem",
    "wss-rt-64b",
    "rt-16k-z",
    "fan-in",
)


@dataclass(frozen=True, slots=True)
class Mode:
    name: str
    runs: int
    timing: Timing


MODES = {
    "full": Mode("full", 5, Timing(warmup=0.2, duration=0.75)),
    # 300 idle connections instead of 1000: the slowest clients need seconds
    # per thousand handshakes, which alone would blow the 3-minute budget.
    "quick": Mode(
        "quick",
        3,
        Timing(warmup=0.1, duration=0.3, idle_connections=300, fanin_duration=1.0),
    ),
    "smoke": Mode(
        "smoke",
        1,
        Timing(warmup=0.05, duration=0.15, idle_connections=20, fanin_duration=0.3),
    ),
}
# Quick mode runs the comparison that decides the targets, not the whole matrix.
QUICK_CLIENTS = ("openwire-native", "websockets", "aiohttp", "picows", FLOOR)
QUICK_WORKLOADS = (
    "rt-64b",
    "rt-16k",
    "rt-1m",
    "pipe-64b",
    "handshake",
    "idle-mem",
    "wss-rt-64b",
    "wss-handshake",
    "idle-mem-tls",
    "idle-mem-z",
    "rt-16k-z",
    "fan-in",
)


@dataclass(slots=True)
class EchoServer:
    impl: str
    port: int
    process: subprocess.Popen[str]
    core: int | None
    tls_port: int | None = None
    deflate_port: int | None = None
    cafile: str | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            self.url,
            f"wss://127.0.0.1:{self.tls_port}/" if self.tls_port else None,
            f"ws://127.0.0.1:{self.deflate_port}/" if self.deflate_port else None,
            self.cafile,
        )

    @property
    def pid(self) -> int:
        return self.process.pid


def _certificate(directory: Path) -> tuple[str, str, str] | None:
    """A throwaway CA and a 127.0.0.1 certificate for the TLS port (trustme)."""
    try:
        import trustme
    except ImportError:
        return None
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = [directory / n for n in ("ca.pem", "cert.pem", "key.pem")]
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.private_key_and_cert_chain_pem.write_to_path(str(paths[1]))
    cert.private_key_pem.write_to_path(str(paths[2]))
    return str(paths[0]), str(paths[1]), str(paths[2])


@contextlib.contextmanager
def echo_server(impl: str, core: int | None) -> Iterator[EchoServer]:
    """Start the echo server (pinned to ``core``) and wait for its READY line."""
    tmp = tempfile.TemporaryDirectory(prefix="openwire-bench-")
    command = [sys.executable, str(BENCH_DIR / "echo_server.py"), "--impl", impl, "--watch-stdin"]
    tls = _certificate(Path(tmp.name))
    if tls is not None:
        command += ["--cert", tls[1], "--key", tls[2]]
    if core is not None:
        command = procstats.taskset_prefix(core) + command
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        if len(line) < 3 or line[0] != "READY":
            raise RuntimeError(f"echo server failed to start: {line!r}")
        if core is not None and not procstats.taskset_prefix(core):
            os.sched_setaffinity(process.pid, {core})
        ports = dict(item.split("=", 1) for item in line[3:])
        yield EchoServer(
            line[1],
            int(line[2]),
            process,
            core,
            int(ports["tls"]) if "tls" in ports else None,
            int(ports["deflate"]) if "deflate" in ports else None,
            tls[0] if tls else None,
        )
    finally:
        tmp.cleanup()
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------ workers


def _run_on_loop(client: str, make: Callable[[], Coroutine[Any, Any, Sample]]) -> Sample:
    """Run the sample on the client's event loop (``client@uvloop``, ``client@trio``)."""
    loop = clients.split(client)[1]
    if loop == "uvloop":
        import uvloop

        return uvloop.run(make())
    if loop == "trio":
        import trio

        return trio.run(make)
    return asyncio.run(make())


def _worker(
    client: str,
    workload: Workload,
    repeat: int,
    url: Endpoints,
    timing: Timing,
    server_pid: int,
    pipe: multiprocessing.connection.Connection,
) -> None:
    def report_and_exit(sample: Sample) -> None:
        # 1000 graceful closes would cost more than the measurement itself.
        pipe.send(sample)
        pipe.close()
        os._exit(0)

    try:
        sample = _run_on_loop(
            client,
            lambda: run_sample(client, workload, repeat, url, timing, server_pid, report_and_exit),
        )
    except BaseException as exc:
        sample = Sample(client, workload.name, repeat, error=f"{type(exc).__name__}: {exc}")
    pipe.send(sample)
    pipe.close()
    # Nothing left worth finalising; skipping interpreter teardown saves wall time.
    os._exit(0)


def run_one(
    client: str,
    workload: Workload,
    repeat: int,
    server: EchoServer,
    timing: Timing,
    timeout: float,
) -> Sample:
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_worker,
        args=(client, workload, repeat, server.endpoints, timing, server.pid, sender),
        daemon=True,
    )
    process.start()
    sender.close()
    try:
        if receiver.poll(timeout):
            sample: Sample = receiver.recv()
        else:
            sample = Sample(client, workload.name, repeat, error=f"timed out after {timeout:.0f}s")
    except EOFError:
        sample = Sample(client, workload.name, repeat, error="worker died without a result")
    finally:
        receiver.close()
        process.join(2)
        if process.is_alive():
            process.kill()
            process.join()
    return sample


def _fmt(sample: Sample, workload: Workload) -> str:
    if sample.error:
        return f"{sample.client} ERROR"
    value = f"{sample.value:.1f}" if workload.kind == "memory" else f"{sample.value:,.0f}"
    cpu = sample.cpu_us_per_op
    if workload.kind != "memory" and cpu is not None:
        value += f" ({cpu:.1f}µs)"
    return f"{sample.client} {value}"


# ------------------------------------------------------------------------- driver


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark openwire's WebSocket engines against other Python clients."
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="3 repeats, short windows, the target clients and workloads (a few minutes)",
    )
    size.add_argument(
        "--smoke", action="store_true", help="1 repeat, tiny windows, 2 clients (for tests)"
    )
    parser.add_argument("--runs", type=int, help="repeats per client x workload")
    parser.add_argument("--duration", type=float, help="seconds in each timed window")
    parser.add_argument("--clients", help="comma-separated subset (default: all installed)")
    parser.add_argument(
        "--loops",
        default="asyncio,uvloop,trio",
        help="event loops to run every client on, where it runs (default: all installed)",
    )
    parser.add_argument("--workloads", help="comma-separated subset (default: all)")
    parser.add_argument(
        "--server", default="auto", choices=["auto", "picows", "websockets"], help="echo server"
    )
    parser.add_argument("--out", type=Path, help="raw JSON directory (default bench/out)")
    parser.add_argument(
        "--report-dir",
        type=Path,
        help="where RESULTS.md and results.png go (default: bench/ for a full run, else --out)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and workers")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=DEFAULT_BASELINE if DEFAULT_BASELINE.exists() else None,
        help="raw results of an earlier run to compare against in a before/after section "
        "(default: the committed bench/baseline run; 'none' to skip)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        help="rebuild RESULTS.md and results.png from a raw results file; run nothing",
    )
    return parser.parse_args(argv)


def load_raw(raw_path: Path) -> tuple[dict[str, object], list[Sample]]:
    raw = json.loads(raw_path.read_text())
    fields = set(Sample.__dataclass_fields__)
    samples = [Sample(**{k: v for k, v in s.items() if k in fields}) for s in raw["samples"]]
    return raw["meta"], samples


def baseline_of(path: Path | None) -> tuple[dict[str, object], list[Sample]] | None:
    if path is None or str(path) == "none":
        return None
    return load_raw(path)


def rebuild(raw_path: Path, report_dir: Path, baseline: Path | None) -> int:
    """Re-render a finished run, e.g. after changing the report layout."""
    meta, samples = load_raw(raw_path)
    md_path, png_path = report.write(meta, samples, report_dir, baseline_of(baseline))
    print(f"report: {md_path}" + (f"\nchart: {png_path}" if png_path else ""))
    print(report.targets_text(meta, samples))
    return 0


def select(requested: str | None, default: list[str], known: list[str], what: str) -> list[str]:
    if not requested:
        return default
    names = [n.strip() for n in requested.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown or uninstalled {what}: {unknown}; available: {known}")
    return names


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        return rebuild(args.from_json, args.report_dir or args.from_json.parent, args.baseline)
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    timing = dataclasses.replace(mode.timing)
    if args.duration:
        timing.duration = args.duration
    runs = args.runs or mode.runs

    installed = clients.available_clients()
    if args.smoke:
        default_clients = [c for c in SMOKE_CLIENTS if c in installed]
    elif mode.name == "quick":
        default_clients = [c for c in QUICK_CLIENTS if c in installed]
    else:
        default_clients = installed
    loops = [] if args.smoke else [n.strip() for n in args.loops.split(",") if n.strip()]
    known = clients.with_loops(installed, [*clients.LOOPS])
    chosen = select(
        args.clients, clients.with_loops(default_clients, loops or ["asyncio"]), known, "clients"
    )
    all_workloads = [w.name for w in WORKLOADS]
    default_workloads = (
        list(SMOKE_WORKLOADS)
        if args.smoke
        else list(QUICK_WORKLOADS)
        if mode.name == "quick"
        else all_workloads
    )
    workloads = [
        BY_NAME[n] for n in select(args.workloads, default_workloads, all_workloads, "workloads")
    ]

    out_dir: Path = args.out or BENCH_DIR / "out"
    partial = bool(args.clients or args.workloads or args.runs or args.duration)
    if args.report_dir:
        report_dir: Path = args.report_dir
    elif mode.name == "full" and not partial:
        report_dir = BENCH_DIR
    else:
        report_dir = out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    report_dir.mkdir(parents=True, exist_ok=True)

    procstats.raise_fd_limit()
    cores = None if args.no_pin else procstats.core_plan()
    clients.preload(chosen)
    report.load_plotting()
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    samples: list[Sample] = []
    with echo_server(args.server, cores[1] if cores else None) as server:
        if cores:
            os.sched_setaffinity(0, {cores[0]})
        pinning = (
            f"server on core {cores[1]}, clients on core {cores[0]}" if cores else "not pinned"
        )
        print(
            f"openwire bench ({mode.name}): {len(chosen)} clients x {len(workloads)} workloads "
            f"x {runs} runs; echo server {server.impl} pid {server.pid}; {pinning}",
            flush=True,
        )
        # Workers inherit the runner's heap; frozen objects are never re-scanned by
        # the collector, so no worker pays to traverse the runner's imports.
        gc.collect()
        gc.freeze()
        timeout = 60 + 4 * (timing.warmup + timing.duration)
        for repeat in range(runs):
            for index, workload in enumerate(workloads):
                shift = (repeat + index) % len(chosen)
                order = chosen[shift:] + chosen[:shift]
                line = []
                for client in order:
                    if not clients.supports(client, workload.name):
                        continue
                    sample = run_one(client, workload, repeat, server, timing, timeout)
                    samples.append(sample)
                    line.append(_fmt(sample, workload))
                    if sample.error:
                        print(f"  ! {client} {workload.name}: {sample.error}", flush=True)
                print(
                    f"[{repeat + 1}/{runs}] {workload.name:<9} {workload.unit:<8} "
                    + " | ".join(line),
                    flush=True,
                )
        server_impl = server.impl
    elapsed = time.perf_counter() - t0

    command = "uv run --all-packages --group bench python " + shlex.join(
        [os.path.relpath(sys.argv[0], BENCH_DIR.parent), *sys.argv[1:]]
    )
    meta: dict[str, object] = {
        "command": command,
        "mode": mode.name,
        "runs": runs,
        "timing": {
            "warmup_s": timing.warmup,
            "duration_s": timing.duration,
            "idle_connections": timing.idle_connections,
            "fanin_duration_s": timing.fanin_duration,
        },
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 1),
        "machine": procstats.machine_info(),
        "echo_server": server_impl,
        "pinning": pinning,
        # Other processes on a 2-core box skew latency-bound numbers; say so.
        "loadavg_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "clients": chosen,
        "workloads": [w.name for w in workloads],
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    raw_path = out_dir / f"results-{mode.name}-{stamp}.json"
    raw_path.write_text(
        json.dumps({"meta": meta, "samples": [s.as_dict() for s in samples]}, indent=1)
    )
    md_path, png_path = report.write(meta, samples, report_dir, baseline_of(args.baseline))
    print(
        f"\nraw results: {raw_path}\nreport: {md_path}"
        + (f"\nchart: {png_path}" if png_path else "")
    )
    print(f"elapsed {elapsed:.0f}s")
    print(report.targets_text(meta, samples))
    failed = [s for s in samples if s.error]
    return 1 if failed and len(failed) == len(samples) else 0


if __name__ == "__main__":
    sys.exit(main())
