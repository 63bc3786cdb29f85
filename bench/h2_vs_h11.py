"""100 WebSockets to one origin over HTTP/2 (RFC 8441) against 100 over HTTP/1.1, both TLS.

    uv run python bench/h2_vs_h11.py [--count 100] [--rounds 50] [--out bench/H2_RESULTS.md]

The server is hypercorn (an ASGI echo, ALPN ``h2`` and ``http/1.1``) in a
process of its own; each client run is a fresh process too, so its memory is
its own. Per version it measures:

- open: seconds to open all WebSockets at once (DNS-free loopback, TLS);
- memory: the client's RSS growth and its Python heap growth (tracemalloc)
  per open WebSocket, measured after every one is open and has echoed once;
- throughput: round trips per second with all WebSockets busy (each sends a
  64-byte message and awaits its echo, ``rounds`` times, all at once);
- connections: TCP connections the client opened (``connect_end`` events).

Results are written as a table with HTTP/2 / HTTP/1.1 ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


async def _echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send(
            {"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")}
        )


def serve(port: int, certfile: str, keyfile: str) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = certfile, keyfile
    config.alpn_protocols = ["h2", "http/1.1"]
    config.loglevel = "WARNING"
    config.accesslog = None
    config.h2_max_concurrent_streams = 1000
    asyncio.run(hypercorn_serve(_echo_app, config))  # type: ignore[arg-type]


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def client(version: str, port: int, cafile: str, count: int, rounds: int) -> dict[str, Any]:
    from openwire import Client
    from openwire.events import EventListener

    class Connects(EventListener):
        count = 0

        def connect_end(self, host: str, port: int) -> None:
            Connects.count += 1

    listener = Connects()
    url = f"wss://127.0.0.1:{port}/"
    # Warm up with a client of its own (imports, code paths), so the measured
    # client starts with no connection to reuse.
    async with Client(verify=cafile) as warm:
        async with warm.websocket(url, http_version=version, ping_interval=None):
            pass
    async with Client(verify=cafile, event_listener_factory=lambda: listener) as c:
        tracemalloc.start()
        heap0 = tracemalloc.get_traced_memory()[0]
        rss0 = _rss()
        started = time.perf_counter()
        sockets = await asyncio.gather(
            *(
                c.new_websocket(
                    url, http_version=version, ping_interval=None, compression=None
                ).execute()
                for _ in range(count)
            )
        )
        opened = time.perf_counter() - started
        payload = b"x" * 64
        for ws in sockets:
            await ws.send(payload)
            await ws.receive()
        heap = tracemalloc.get_traced_memory()[0] - heap0
        rss = _rss() - rss0
        tracemalloc.stop()

        async def busy(ws: Any) -> None:
            for _ in range(rounds):
                await ws.send(payload)
                await ws.receive()

        started = time.perf_counter()
        await asyncio.gather(*(busy(ws) for ws in sockets))
        elapsed = time.perf_counter() - started
        assert all(ws.http_version == version for ws in sockets)
        await asyncio.gather(*(ws.close() for ws in sockets))
    return {
        "version": version,
        "open_s": opened,
        "rss_per_ws": rss / count,
        "heap_per_ws": heap / count,
        "round_trips_per_s": count * rounds / elapsed,
        "connections": Connects.count,
    }


def _table(results: dict[str, dict[str, Any]], count: int, rounds: int) -> str:
    h2, h1 = results["2"], results["1.1"]
    rows = [
        ("time to open all", "open_s", "{:.3f} s", "lower is better"),
        ("client RSS per WebSocket", "rss_per_ws", "{:,.0f} B", "lower is better"),
        ("client Python heap per WebSocket", "heap_per_ws", "{:,.0f} B", "lower is better"),
        ("round trips per second, all busy", "round_trips_per_s", "{:,.0f}", "higher is better"),
        ("TCP connections opened", "connections", "{}", ""),
    ]
    lines = [
        f"# {count} WebSockets over HTTP/2 vs HTTP/1.1 (TLS, one origin)",
        "",
        f"`uv run python bench/h2_vs_h11.py --count {count} --rounds {rounds}`; hypercorn "
        "echo server in its own process, openwire client on asyncio, no compression. "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs.",
        "",
        "| measure | HTTP/2 | HTTP/1.1 | HTTP/2 ÷ HTTP/1.1 | |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, key, fmt, note in rows:
        ratio = h2[key] / h1[key] if h1[key] else float("nan")
        lines.append(
            f"| {label} | {fmt.format(h2[key])} | {fmt.format(h1[key])} | {ratio:.2f} | {note} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--out", type=Path, default=HERE / "H2_RESULTS.md")
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "CERT", "KEY"))
    parser.add_argument("--client", nargs=3, metavar=("VERSION", "PORT", "CAFILE"))
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return
    if args.client:
        version, port, cafile = args.client
        result = asyncio.run(client(version, int(port), cafile, args.count, args.rounds))
        print(json.dumps(result))
        return

    import socket

    import trustme

    folder = Path(tempfile.mkdtemp(prefix="openwire-h2-bench-"))
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile, cafile = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), str(certfile), str(keyfile)]
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        results = {}
        for version in ("1.1", "2"):
            completed = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--count",
                    str(args.count),
                    "--rounds",
                    str(args.rounds),
                    "--client",
                    version,
                    str(port),
                    str(cafile),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            results[version] = json.loads(completed.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(10)
    table = _table(results, args.count, args.rounds)
    args.out.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
