"""What a small round trip's client CPU is made of: the client's own work, and what it drags in.

    uv run --all-packages --group bench python bench/overhead.py             # both parts, ~3 min
    uv run --all-packages --group bench python bench/overhead.py --part own  # ~1 min

Two measurements behind the "native CPU/op <= picows" verdicts of
bench/RESULTS.md, both with the clients of bench/clients.py in one process,
against the pinned echo server of bench/run.py:

``split``
    64-byte round trips over loopback, the clients interleaved in blocks
    (order reversed every block), each block's user and kernel CPU read
    with ``getrusage``. Besides picows, the floor client and openwire, it
    runs the floor client with a known amount of pure-Python busy work
    added before every send (``floor+N``: a loop of N empty iterations,
    ~5 µs per 300 here) as a calibration: what a microsecond of client work
    costs in the total on this machine. The kernel's share is not fixed: a
    client that takes longer between messages can leave the server's core
    idle long enough to halt, and the ``send`` that wakes it is dearer. In
    some runs the kernel time grew about as much as the added user time, in
    others not at all; the user column is the one the client's code sets.

``own``
    openwire's own work per round trip without the kernel: after a real
    upgrade the client's transport is swapped for one whose ``write`` does
    nothing, and each echo frame is handed to the protocol with
    ``call_soon``. One iteration is then exactly send + one loop turn + the
    echo's ``data_received`` + receive, the shape of a real round trip with
    no syscall. The floor client runs the same way; the difference is what
    openwire's session, codec and channel cost per message.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.append(str(BENCH_DIR))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

import clients  # noqa: E402
import procstats  # noqa: E402
from clients import Connection  # noqa: E402
from run import echo_server  # noqa: E402

PAYLOAD = b"x" * 64
# The echo of PAYLOAD as the server sends it: FIN + binary, unmasked, length 64.
ECHO_FRAME = bytes((0x82, 64)) + PAYLOAD


def _with_busy_work(conn: Connection, iterations: int) -> Connection:
    send = conn.send_bytes

    async def send_bytes(data: bytes) -> None:
        for _ in range(iterations):
            pass
        await send(data)

    return dataclasses.replace(conn, send_bytes=send_bytes)


async def _open(stack: contextlib.AsyncExitStack, name: str, url: str) -> Connection:
    base, _, busy = name.partition("+")
    connect = await stack.enter_async_context(clients.connector(base))
    conn = await connect(url)
    stack.push_async_callback(conn.close)
    return _with_busy_work(conn, int(busy)) if busy else conn


async def split(url: str, names: list[str], blocks: int, per_block: int) -> None:
    user: dict[str, list[float]] = {n: [] for n in names}
    total: dict[str, list[float]] = {n: [] for n in names}
    async with contextlib.AsyncExitStack() as stack:
        conns = {n: await _open(stack, n, url) for n in names}
        for block in range(blocks):
            for name in names if block % 2 == 0 else names[::-1]:
                send, receive = conns[name].send_bytes, conns[name].receive
                for _ in range(per_block // 10):  # settle into the rhythm
                    await send(PAYLOAD)
                    await receive()
                before = resource.getrusage(resource.RUSAGE_SELF)
                for _ in range(per_block):
                    await send(PAYLOAD)
                    await receive()
                after = resource.getrusage(resource.RUSAGE_SELF)
                u = after.ru_utime - before.ru_utime
                k = after.ru_stime - before.ru_stime
                user[name].append(u / per_block * 1e6)
                total[name].append((u + k) / per_block * 1e6)
    base = names[0]
    print(f"split: {blocks} blocks x {per_block} round trips, CPU µs per round trip")
    print(f"{'client':24} {'user':>7} {'kernel':>7} {'total':>7}  total ÷ {base}")
    for name in names:
        u, t = statistics.median(user[name]), statistics.median(total[name])
        ratio = statistics.median(a / b for a, b in zip(total[name], total[base], strict=True))
        print(f"{name:24} {u:7.1f} {t - u:7.1f} {t:7.1f}  {ratio:.3f}")


class _NullTransport:
    """A transport that sends nothing: the kernel's part taken out."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _detach(name: str, conn: Connection) -> Callable[[bytes], None]:
    """Swap the connection's transport for a null one; return its protocol's data_received."""
    owner: Any = getattr(conn.send_bytes, "__self__", None)
    if name == "floor":
        owner.transport = _NullTransport()
        feed: Callable[[bytes], None] = owner.data_received
        return feed
    if name.startswith("openwire-"):
        channel = owner._session._channel  # the asyncio channel (a Protocol)
        channel._transport = _NullTransport()
        feed = channel.data_received
        return feed
    raise SystemExit(f"--part own measures the floor client and openwire engines, not {name}")


async def own_work(url: str, names: list[str], blocks: int, per_block: int) -> None:
    loop = asyncio.get_running_loop()
    runs: dict[str, tuple[Callable[[bytes], Awaitable[None]], Callable[[], Awaitable[Any]]]] = {}
    feeds: dict[str, Callable[[bytes], None]] = {}
    per_op: dict[str, list[float]] = {n: [] for n in names}
    async with contextlib.AsyncExitStack() as stack:
        for name in names:
            conn = await _open(stack, name, url)
            await conn.send_bytes(PAYLOAD)  # one real round trip: the channel is started
            await conn.receive()
            feeds[name] = _detach(name, conn)
            runs[name] = (conn.send_bytes, conn.receive)
        for block in range(blocks):
            for name in names if block % 2 == 0 else names[::-1]:
                (send, receive), feed = runs[name], feeds[name]
                call_soon = loop.call_soon
                start = time.process_time()
                for _ in range(per_block):
                    await send(PAYLOAD)
                    call_soon(feed, ECHO_FRAME)
                    await receive()
                per_op[name].append((time.process_time() - start) / per_block * 1e6)
        # The swapped transports cannot close; the connections are dropped with the loop.
        stack.pop_all()
    base = names[0]
    print(
        f"own work: {blocks} blocks x {per_block} round trips, no syscalls, CPU µs per round trip"
    )
    for name in names:
        median, low = statistics.median(per_op[name]), min(per_op[name])
        extra = median - statistics.median(per_op[base])
        print(f"{name:24} {median:6.2f} (min {low:5.2f})  {extra:+6.2f} over {base}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["split", "own", "both"], default="both")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument(
        "--clients",
        default="picows,floor,floor+300,floor+600,openwire-native",
        help="split: clients, the first is the base; floor+N adds N empty loop turns",
    )
    parser.add_argument("--blocks", type=int, default=15)
    args = parser.parse_args(argv)

    async def both(url: str) -> None:
        if args.part in ("split", "both"):
            names = [n.strip() for n in args.clients.split(",") if n.strip()]
            await split(url, names, args.blocks, 2000)
        if args.part in ("own", "both"):
            await own_work(url, ["floor", "openwire-native"], args.blocks, 20000)

    plan = procstats.core_plan()
    with echo_server("picows", plan[1] if plan else None) as server:
        if plan:
            os.sched_setaffinity(0, {plan[0]})
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(both(server.url))
        else:
            asyncio.run(both(server.url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
