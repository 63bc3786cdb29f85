"""Turn samples into RESULTS.md, results.png and the targets verdicts.

Ratios are computed per repeat (client and baseline measured back to back in
the same repeat) and only then summarised by their median, so machine drift
between repeats cancels instead of widening the spread.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from clients import ADAPTER_OF, FLOOR
from workloads import BY_NAME, Sample

BASELINE = "websockets"
NATIVE = "openwire-native"
THROUGHPUT_KINDS = ("rt", "pipe", "handshake")


@dataclass(frozen=True, slots=True)
class Stat:
    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat | None:
        data = sorted(values)
        if not data:
            return None
        return cls(statistics.median(data), data[0], data[-1], len(data))


@dataclass(frozen=True, slots=True)
class Target:
    label: str
    measured: str
    status: str  # "met", "missed" or "n/a"
    # Same pairing on CPU time per operation: what the ratio would be if
    # latency were free, which a busy machine cannot hide.
    cpu: str = ""


class Results:
    """Samples indexed by client, workload and repeat."""

    def __init__(self, meta: dict[str, object], samples: list[Sample]) -> None:
        self.meta = meta
        self.samples = samples
        self.by_key: dict[tuple[str, str], dict[int, Sample]] = defaultdict(dict)
        for sample in samples:
            if sample.error is None:
                self.by_key[sample.client, sample.workload][sample.repeat] = sample
        self.clients: list[str] = list(meta.get("clients", []))  # type: ignore[call-overload]
        self.workloads: list[str] = list(meta.get("workloads", []))  # type: ignore[call-overload]

    def per_repeat(
        self, client: str, workload: str, metric: Callable[[Sample], float | None] | None = None
    ) -> dict[int, float]:
        pick = metric or (lambda s: s.value)
        found = {}
        for repeat, sample in self.by_key.get((client, workload), {}).items():
            value = pick(sample)
            if value is not None:
                found[repeat] = value
        return found

    def stat(
        self, client: str, workload: str, metric: Callable[[Sample], float | None] | None = None
    ) -> Stat | None:
        return Stat.of(self.per_repeat(client, workload, metric).values())

    def ratio(self, client: str, baseline: str, workload: str) -> Stat | None:
        """client / baseline, pairing samples of the same repeat."""
        mine = self.per_repeat(client, workload)
        theirs = self.per_repeat(baseline, workload)
        return Stat.of(mine[r] / theirs[r] for r in mine if theirs.get(r))

    def cpu_ratio(self, client: str, workload: str, baseline: str = BASELINE) -> Stat | None:
        """Baseline CPU per op / client CPU per op: less sensitive to a busy machine."""
        mine = self.per_repeat(client, workload, lambda s: s.cpu_us_per_op)
        theirs = self.per_repeat(baseline, workload, lambda s: s.cpu_us_per_op)
        return Stat.of(theirs[r] / mine[r] for r in mine if mine[r] and r in theirs)

    def cpu_paired(self, client: str, base: str, workload: str) -> Stat | None:
        """client CPU per op / base CPU per op, within each repeat (< 1: client cheaper)."""
        mine = self.per_repeat(client, workload, lambda s: s.cpu_us_per_op)
        theirs = self.per_repeat(base, workload, lambda s: s.cpu_us_per_op)
        return Stat.of(mine[r] / theirs[r] for r in mine if theirs.get(r))

    def user_cpu_paired(self, client: str, base: str, workload: str) -> Stat | None:
        """client user CPU per op / base user CPU per op, within each repeat."""

        def user(sample: Sample) -> float | None:
            return sample.extra.get("user_cpu_us_per_op")

        mine = self.per_repeat(client, workload, user)
        theirs = self.per_repeat(base, workload, user)
        return Stat.of(mine[r] / theirs[r] for r in mine if theirs.get(r))

    def value_paired(self, client: str, base: str, workload: str) -> Stat | None:
        """client value / base value within each repeat (memory: < 1 is leaner)."""
        mine = self.per_repeat(client, workload)
        theirs = self.per_repeat(base, workload)
        return Stat.of(mine[r] / theirs[r] for r in mine if theirs.get(r))

    def best_ratio(
        self, clients: list[str], baseline: str, workload: str
    ) -> tuple[str, Stat] | None:
        """The client in ``clients`` with the best median on ``workload``, against baseline."""
        ranked = [(s.median, c) for c in clients if (s := self.stat(c, workload)) is not None]
        if not ranked:
            return None
        best = max(ranked)[1]
        ratio = self.ratio(best, baseline, workload)
        return (best, ratio) if ratio else None


# ---------------------------------------------------------------------- formats


def fmt_value(value: float, kind: str) -> str:
    if kind == "memory":
        return f"{value:.1f}"
    if value >= 10_000:
        return f"{value / 1000:.1f}k"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def fmt_stat(stat: Stat | None, kind: str) -> str:
    if stat is None:
        return "—"
    if stat.n == 1:
        return fmt_value(stat.median, kind)
    return (
        f"{fmt_value(stat.median, kind)} ({fmt_value(stat.low, kind)}–{fmt_value(stat.high, kind)})"
    )


def fmt_ratio(stat: Stat | None, spread: bool = True) -> str:
    if stat is None:
        return "—"
    if stat.n == 1 or not spread:
        return f"{stat.median:.2f}×"
    return f"{stat.median:.2f}× ({stat.low:.2f}–{stat.high:.2f})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# ---------------------------------------------------------------------- targets


def targets(results: Results) -> list[Target]:
    found: list[Target] = []
    have = set(results.clients)
    workloads = set(results.workloads)

    def ratio_target(label: str, client: str, base: str, workload: str, floor: float) -> None:
        if workload not in workloads:
            return
        if client not in have or base not in have:
            missing = client if client not in have else base
            found.append(Target(label, f"{missing} not installed", "n/a"))
            return
        stat = results.ratio(client, base, workload)
        if stat is None:
            found.append(Target(label, "no data", "n/a"))
            return
        verdict = "met" if stat.median >= floor else "missed"
        cpu = fmt_ratio(results.cpu_ratio(client, workload, base))
        found.append(Target(label, fmt_ratio(stat), verdict, cpu))

    for workload in ("rt-64b", "rt-1k", "rt-16k", "rt-64t", "pipe-64b", "pipe-16k"):
        ratio_target(f"native ≥ 1.3× websockets on {workload}", NATIVE, BASELINE, workload, 1.3)
    ratio_target("native ≥ 0.8× websockets on rt-1m", NATIVE, BASELINE, "rt-1m", 0.8)
    ratio_target("native ≥ 1.2× websockets handshakes/s", NATIVE, BASELINE, "handshake", 1.2)

    if "idle-mem" in workloads:
        stat = results.stat(NATIVE, "idle-mem")
        label = "native idle memory ≤ 10 KiB per connection"
        if stat is None:
            found.append(Target(label, "no data", "n/a"))
        else:
            verdict = "met" if stat.median <= 10 else "missed"
            found.append(Target(label, fmt_stat(stat, "memory") + " KiB", verdict))

    found += round_two_targets(results)

    rt_pipe = [w for w in results.workloads if BY_NAME[w].kind in ("rt", "pipe")]
    for adapter, raw in ADAPTER_OF.items():
        if adapter not in have:
            continue
        for workload in rt_pipe:
            ratio_target(f"{adapter} ≥ 0.9× {raw} on {workload}", adapter, raw, workload, 0.9)

    engines = [c for c in results.clients if c.startswith("openwire-")]
    for workload in ("rt-64b", "pipe-64b"):
        if workload not in workloads:
            continue
        label = f"fastest openwire engine ≥ 1.0× picows on {workload}"
        if "picows" not in have:
            found.append(Target(label, "picows not installed", "n/a"))
            continue
        best = results.best_ratio(engines, "picows", workload)
        if best is None:
            found.append(Target(label, "no data", "n/a"))
            continue
        engine, stat = best
        verdict = "met" if stat.median >= 1.0 else "missed"
        cpu = fmt_ratio(results.cpu_ratio(engine, workload, "picows"))
        found.append(Target(label, f"{engine}: {fmt_ratio(stat)}", verdict, cpu))
    return found


PICOWS_WORKLOADS = ("rt-64b", "rt-16k", "rt-1m", "pipe-64b", "handshake")
LOOP_SUFFIXES = (("asyncio", ""), ("uvloop", "@uvloop"))


def round_two_targets(results: Results) -> list[Target]:
    """CPU per operation against picows per loop, memory per connection, trio.

    Status follows the median of the paired client-CPU ratios (native ÷
    picows within the same repeat), not throughput: the machine's latency
    moves messages/s for everyone, the client's own CPU is its own.
    """
    found: list[Target] = []
    have = set(results.clients)
    workloads = set(results.workloads)
    for loop, suffix in LOOP_SUFFIXES:
        native, picows = NATIVE + suffix, "picows" + suffix
        for workload in PICOWS_WORKLOADS:
            if workload not in workloads or native not in have:
                continue
            label = f"native CPU/op ≤ picows on {workload} ({loop})"
            if picows not in have:
                found.append(Target(label, f"{picows} not run", "n/a"))
                continue
            stat = results.cpu_paired(native, picows, workload)
            if stat is None:
                found.append(Target(label, "no data", "n/a"))
                continue
            verdict = "met" if stat.median <= 1.0 else "missed"
            measured = f"CPU {fmt_ratio(stat)} of picows'"
            user = results.user_cpu_paired(native, picows, workload)
            if user is not None:
                # The kernel's share grows with the user share here (PROFILE.md):
                # the user-time ratio is the one the client's own code sets.
                measured += f"; user CPU {fmt_ratio(user, spread=False)}"
            found.append(Target(label, measured, verdict))

    if "idle-mem" in workloads:
        stat = results.stat(NATIVE, "idle-mem")
        label = "native idle memory ≤ 6 KiB per connection"
        if stat is None:
            found.append(Target(label, "no data", "n/a"))
        else:
            verdict = "met" if stat.median <= 6 else "missed"
            found.append(Target(label, fmt_stat(stat, "memory") + " KiB", verdict))
    for workload, what in (("idle-mem-tls", "wss"), ("idle-mem-z", "deflate")):
        if workload not in workloads:
            continue
        for other in ("websockets", "aiohttp"):
            for loop, suffix in LOOP_SUFFIXES:
                native, base = NATIVE + suffix, other + suffix
                if native not in have or base not in have:
                    continue
                label = f"native {what} idle memory < {other} ({loop})"
                stat = results.value_paired(native, base, workload)
                mine = results.stat(native, workload)
                if stat is None or mine is None:
                    found.append(Target(label, "no data", "n/a"))
                    continue
                verdict = "met" if stat.median < 1.0 else "missed"
                found.append(
                    Target(
                        label,
                        f"{fmt_stat(mine, 'memory')} KiB, {fmt_ratio(stat)} of {other}",
                        verdict,
                    )
                )
    trio = NATIVE + "@trio"
    for workload in ("idle-mem", "idle-mem-tls", "idle-mem-z"):
        if workload not in workloads or trio not in have or NATIVE not in have:
            continue
        stat = results.value_paired(trio, NATIVE, workload)
        mine = results.stat(trio, workload)
        label = f"trio idle memory ≤ 1.5× asyncio ({workload})"
        if stat is None or mine is None:
            found.append(Target(label, "no data", "n/a"))
        else:
            verdict = "met" if stat.median <= 1.5 else "missed"
            found.append(
                Target(label, f"{fmt_stat(mine, 'memory')} KiB, {fmt_ratio(stat)}", verdict)
            )
        tasks = results.stat(trio, workload, lambda s: s.extra.get("tasks_per_conn"))
        label = f"trio ≤ 1 task per idle connection ({workload})"
        if tasks is None:
            found.append(Target(label, "no data", "n/a"))
        else:
            verdict = "met" if tasks.median <= 1.0 + 1e-9 else "missed"
            found.append(Target(label, f"{tasks.median:.2f} tasks", verdict))
    return found


def targets_text(meta: dict[str, object], samples: list[Sample]) -> str:
    rows = targets(Results(meta, samples))
    if not rows:
        return "targets: none applicable to this selection"
    width = max(len(t.label) for t in rows)
    lines = ["targets (ratio medians over same-repeat pairs):"]
    lines += [
        f"  {t.status.upper():<6} {t.label:<{width}}  {t.measured}"
        + (f"  [cpu {t.cpu}]" if t.cpu else "")
        for t in rows
    ]
    met = sum(t.status == "met" for t in rows)
    lines.append(f"  {met}/{sum(t.status != 'n/a' for t in rows)} measured targets met")
    return "\n".join(lines)


# ---------------------------------------------------------------------- markdown


def _floor_note(results: Results) -> list[str]:
    """What a client doing no WebSocket work at all reaches: the ceiling for any ratio."""
    if FLOOR not in results.clients:
        return []
    cells = []
    for workload in results.workloads:
        ratio = results.ratio(FLOOR, BASELINE, workload)
        if ratio is not None and BY_NAME[workload].kind != "memory":
            cells.append(f"{workload} {fmt_ratio(ratio)}")
    if not cells:
        return []
    return [
        "",
        "Floor: `floor` (bench/clients.py) is an asyncio client that does no WebSocket work "
        "(fixed upgrade request, zero mask, no validation); in this run it reaches, as a "
        "ratio to websockets: " + ", ".join(cells) + ". A target above the floor's ratio "
        "cannot be met by any asyncio client on this machine: the event loop, the "
        "syscalls and the round-trip latency decide it, not the client's own work.",
    ]


def _new_workloads(results: Results) -> list[str]:
    """Fan-in, memory and task counts that the generic tables cannot show."""
    out: list[str] = []
    clients = results.clients

    def cell(client: str, workload: str, key: str, digits: int = 1) -> str:
        stat = results.stat(client, workload, lambda s: s.extra.get(key))
        return "—" if stat is None else f"{stat.median:.{digits}f}"

    if "fan-in" in results.workloads:
        rows = []
        for c in clients:
            cpu = results.stat(c, "fan-in", lambda s: s.cpu_us_per_op)
            if cpu is None:
                continue
            server = results.stat(
                c, "fan-in", lambda s: 100 * s.server_cpu / s.seconds if s.server_cpu else None
            )
            rows.append(
                [
                    c,
                    f"{cpu.median:.1f}",
                    cell(c, "fan-in", "p50_ms", 2),
                    cell(c, "fan-in", "p99_ms", 2),
                    cell(c, "fan-in", "busy_kib"),
                    "—" if server is None else f"{server.median:.0f}%",
                    fmt_stat(results.stat(c, "fan-in"), "rt"),
                ]
            )
        timing: dict[str, float] = results.meta["timing"]  # type: ignore[assignment]
        out += [
            "",
            "## Fan-in and busy memory",
            "",
            f"{timing['idle_connections']} connections to the echo server's `/broadcast` path, "
            "each receiving a 32-byte message every 100 ms (one reader task per connection, "
            "as an application writes it). Delay: receive time minus the server's "
            "`monotonic_ns` stamp taken before its fan-out loop (so it includes the "
            "server's own fan-out). Busy memory: RSS growth per connection from before "
            "the first connect to the end of the window (reader tasks included).",
            "",
        ]
        out += _table(
            [
                "client",
                "CPU µs/msg",
                "p50 ms",
                "p99 ms",
                "busy KiB/conn",
                "server CPU",
                "msg/s",
            ],
            rows,
        )
    mem = [w for w in ("idle-mem", "idle-mem-tls", "idle-mem-z") if w in results.workloads]
    if mem:
        out += [
            "",
            "## Idle memory and tasks per connection",
            "",
            "KiB: growth of the worker's resident set (`/proc/self/statm`), after a "
            "`gc.collect()`, across opening the connections (one warm connection opened "
            "before, so per-process caches are not charged), divided by their number: "
            "everything the process holds for them — the client's objects, the event "
            "loop's transport and its buffers (asyncio's TLS transport allocates "
            "a 256 KiB read buffer each), kernel socket memory is not in it. "
            "Tasks: tasks alive per connection (trio: the whole task tree).",
            "",
        ]
        rows = []
        for c in clients:
            row = [c]
            for w in mem:
                stat = results.stat(c, w)
                tasks = results.stat(c, w, lambda s: s.extra.get("tasks_per_conn"))
                row.append(
                    "—"
                    if stat is None
                    else f"{stat.median:.1f}" + ("" if tasks is None else f" / {tasks.median:.2f}")
                )
            if any(x != "—" for x in row[1:]):
                rows.append(row)
        out += _table(["client", *(f"{w} KiB / tasks" for w in mem)], rows)
    return out


def _load_note(meta: dict[str, object]) -> str:
    load: list[float] = meta.get("loadavg_1m", [])  # type: ignore[assignment]
    if not load:
        return ""
    text = f"Load average (1 min) before/after: {load[0]:.2f} / {load[-1]:.2f}."
    if max(load) > 0.7:
        text += (
            " **Other processes were running**: round-trip figures, which depend on both "
            "cores being free, are depressed and compressed towards each other; the CPU "
            "µs/message figures are the more trustworthy comparison for this run."
        )
    return text + "  "


def markdown(results: Results, chart_name: str | None) -> str:
    meta = results.meta
    machine: dict[str, object] = meta["machine"]  # type: ignore[assignment]
    libs: dict[str, str] = machine["libraries"]  # type: ignore[assignment]
    timing: dict[str, float] = meta["timing"]  # type: ignore[assignment]
    clients = results.clients
    workloads = [BY_NAME[w] for w in results.workloads]
    runs = meta["runs"]

    out = [
        "# openwire WebSocket client benchmark",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['started']} (took {meta['elapsed_s']} s)  ",
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['python']}, "
        f"{machine['platform']}  ",
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in libs.items()) + "  ",
        f"Echo server: {meta['echo_server']} over 127.0.0.1, {meta['pinning']}.  ",
        _load_note(meta),
        f"Method: {runs} runs of every client × workload, each in a fresh forked process; "
        f"{timing['warmup_s']} s warm-up then a {timing['duration_s']} s timed window; "
        "repeats interleaved with the client order rotated. Cells are median (min–max) "
        "over runs; ratios are taken within each run, then the median is reported.",
        "",
        "Workloads: `rt-*` one message in flight (echo round trips), `rt-64t` text; "
        "`pipe-*` 100 messages in flight; `handshake` sequential connect + close; "
        f"`idle-mem` RSS growth per connection with {timing['idle_connections']} open "
        "(lower is better); `wss-*` the same over TLS on the same server (one client "
        "`SSLContext` per sample); `idle-mem-tls`, `idle-mem-z` idle memory over wss "
        "and with permessage-deflate negotiated (websockets' server); `rt-16k-z` a 16 KiB "
        "JSON-like text round trip with permessage-deflate (openwire, websockets, "
        "aiohttp `compress=15`); `fan-in` see below. A `@uvloop` suffix runs the client "
        "on uvloop, `@trio` on trio (openwire, memory workloads).",
        "",
    ]
    if chart_name:
        out += [f"![ratio to websockets]({chart_name})", ""]

    out += ["## Targets", ""]
    out += [
        "Status follows the measured throughput ratio (same-run pairs). The CPU-time "
        "ratio pairs the same samples on client CPU per operation (> 1: cheaper than "
        "the baseline); it is what the ratio tends to when the client, not latency, "
        "is the limit.",
        "",
    ]
    out += _table(
        ["target", "measured", "CPU-time ratio", "status"],
        [[t.label, t.measured, t.cpu or "—", t.status] for t in targets(results)],
    )
    out += _floor_note(results)

    out += ["", "## Ratio to websockets (same run; > 1 is faster, for idle-mem < 1 is leaner)", ""]
    out += _table(
        ["workload", *clients],
        [
            [w.name] + [fmt_ratio(results.ratio(c, BASELINE, w.name)) for c in clients]
            for w in workloads
        ],
    )

    out += ["", "## Absolute figures (median (min–max))", ""]
    out += _table(
        ["workload", "unit", *clients],
        [
            [w.name, w.unit] + [fmt_stat(results.stat(c, w.name), w.kind) for c in clients]
            for w in workloads
        ],
    )

    pipes = [w for w in workloads if w.kind == "pipe"]
    if pipes:
        out += ["", "## Pipelined throughput (MB/s of payload each way)", ""]
        out += _table(
            ["workload", *clients],
            [
                [w.name]
                + [
                    fmt_stat(results.stat(c, w.name, lambda s: s.extra.get("mb_per_s")), "rt")
                    for c in clients
                ]
                for w in pipes
            ],
        )

    per_msg = [w for w in workloads if w.kind in ("rt", "pipe", "handshake")]
    if per_msg:
        out += [
            "",
            "## Client CPU time per message (µs; per connection for handshake; lower is better)",
            "",
        ]
        out += _table(
            ["workload", *clients],
            [
                [w.name]
                + [
                    fmt_stat(results.stat(c, w.name, lambda s: s.cpu_us_per_op), "rt")
                    for c in clients
                ]
                for w in per_msg
            ],
        )

    if per_msg:
        out += [
            "",
            "## CPU efficiency ratio to websockets (websockets' CPU per message ÷ the "
            "client's, same run; > 1 is cheaper)",
            "",
        ]
        out += _table(
            ["workload", *clients],
            [
                [w.name] + [fmt_ratio(results.cpu_ratio(c, w.name)) for c in clients]
                for w in per_msg
            ],
        )

    out += [
        "",
        "## Echo server headroom",
        "",
        "CPU used by the echo server and by the client worker during each timed window "
        "(100% = one core). A client that is the bottleneck sits near 100% while the "
        "server stays well below it.",
        "",
    ]
    rows = []
    saturated: list[str] = []
    for w in workloads:
        server = []
        client_use = []
        for c in clients:
            for s in results.by_key.get((c, w.name), {}).values():
                if s.seconds > 0:
                    if s.server_cpu is not None:
                        server.append((100 * s.server_cpu / s.seconds, c))
                    client_use.append(100 * s.client_cpu / s.seconds)
        if not server:
            continue
        peak, who = max(server)
        if peak >= 90:
            saturated.append(f"{w.name} with {who}")
        rows.append(
            [
                w.name,
                f"{statistics.median(p for p, _ in server):.0f}%",
                f"{peak:.0f}% ({who})",
                f"{statistics.median(client_use):.0f}%",
            ]
        )
    out += _table(
        ["workload", "server CPU median", "server CPU max (client)", "client CPU median"], rows
    )
    if saturated:
        out += [
            "",
            "Server at ≥ 90% of its core: "
            + ", ".join(saturated)
            + ". There the server, not the client, may be the limit, so that client's "
            "figure is a lower bound.",
        ]

    out += _new_workloads(results)

    errors = [s for s in results.samples if s.error]
    if errors:
        out += ["", "## Failed samples", ""]
        out += [f"- {s.client} {s.workload} run {s.repeat + 1}: {s.error}" for s in errors]
    out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------------- chart


def before_after(before: Results, after: Results) -> str:
    """The openwire engines' ratios to websockets in an earlier run and in this one.

    Ratios to the same unchanged baseline client are what stays comparable
    between runs on a shared machine; absolute figures are not.
    """
    ours = [c for c in after.clients if c.startswith("openwire-") and c in before.clients]
    workloads = [w for w in after.workloads if w in before.workloads]
    if not ours or not workloads:
        return ""
    out = [
        "",
        f"## Before / after (baseline run of {before.meta['started']})",
        "",
        "Each cell: ratio to websockets in the baseline run → in this run (median of "
        "same-repeat pairs); in brackets the CPU-time ratio, baseline → this run. "
        "`uv run --all-packages --group bench python bench/run.py --baseline PATH` "
        "compares against another run.",
        "",
    ]

    def cell(client: str, workload: str) -> str:
        old, new = before.ratio(client, BASELINE, workload), after.ratio(client, BASELINE, workload)
        if old is None or new is None:
            return "—"
        text = f"{old.median:.2f}× → {new.median:.2f}×"
        old_cpu, new_cpu = before.cpu_ratio(client, workload), after.cpu_ratio(client, workload)
        if old_cpu and new_cpu and BY_NAME[workload].kind != "memory":
            text += f" ({old_cpu.median:.2f}× → {new_cpu.median:.2f}×)"
        return text

    out += _table(["workload", *ours], [[w, *(cell(c, w) for c in ours)] for w in workloads])
    out.append("")
    return "\n".join(out)


def load_plotting() -> bool:
    """Import matplotlib now rather than after a ten-minute run.

    A concurrent ``uv run`` without the bench group uninstalls it from the
    shared environment; once imported, the chart survives that.
    """
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot

    return True


def chart(results: Results, path: Path) -> bool:
    """Ratio-to-websockets bars plus idle memory; False when matplotlib is absent."""
    if not load_plotting():
        return False
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    clients = results.clients
    speed = [w for w in results.workloads if BY_NAME[w].kind in THROUGHPUT_KINDS]
    memory = [w for w in results.workloads if BY_NAME[w].kind == "memory"]
    fig, axes = plt.subplots(
        1 + bool(memory),
        1,
        figsize=(13, 9 if memory else 6),
        squeeze=False,
        gridspec_kw={"height_ratios": [2, 1] if memory else [1]},
    )
    ax = axes[0][0]
    width = 0.85 / max(len(clients), 1)
    colors = plt.get_cmap("tab10")
    for i, client in enumerate(clients):
        xs, heights, lows, highs = [], [], [], []
        for j, workload in enumerate(speed):
            stat = results.ratio(client, BASELINE, workload)
            if stat is None:
                continue
            xs.append(j + (i - (len(clients) - 1) / 2) * width)
            heights.append(stat.median)
            lows.append(stat.median - stat.low)
            highs.append(stat.high - stat.median)
        ax.bar(
            xs,
            heights,
            width,
            label=client,
            color=colors(i % 10),
            yerr=[lows, highs],
            capsize=2,
            error_kw={"elinewidth": 0.8},
        )
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_xticks(range(len(speed)), speed)
    ax.set_ylabel("ratio to websockets (same run, log)")
    ax.set_title(
        "Throughput relative to websockets (higher is better; bars: median, whiskers: min–max)"
    )
    ax.legend(ncols=min(len(clients), 5), fontsize="small")
    ax.grid(axis="y", which="both", alpha=0.3)

    if memory:
        ax = axes[1][0]
        stats = [results.stat(c, memory[0]) for c in clients]
        heights = [s.median if s else 0.0 for s in stats]
        ax.bar(range(len(clients)), heights, color=[colors(i % 10) for i in range(len(clients))])
        for i, h in enumerate(heights):
            ax.annotate(f"{h:.1f}", (i, h), ha="center", va="bottom", fontsize="small")
        ax.axhline(10, color="red", linewidth=0.8, linestyle="--", label="10 KiB target")
        ax.set_xticks(range(len(clients)), clients, rotation=20, ha="right")
        ax.set_ylabel("KiB per idle connection")
        ax.set_title("Idle memory per open connection (lower is better)")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(
    meta: dict[str, object],
    samples: list[Sample],
    directory: Path,
    baseline: tuple[dict[str, object], list[Sample]] | None = None,
) -> tuple[Path, Path | None]:
    results = Results(meta, samples)
    png: Path | None = directory / "results.png"
    assert png is not None
    if not chart(results, png):
        png = None
    md = directory / "RESULTS.md"
    text = markdown(results, png.name if png else None)
    if baseline is not None:
        text += before_after(Results(*baseline), results)
    md.write_text(text)
    return md, png
