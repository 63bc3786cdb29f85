"""What an open WebSocket costs in memory with permessage-deflate, per engine.

Opens N connections to a local websockets echo server (in a child process,
so its allocations are not counted) and reads ``tracemalloc`` at three points:

- idle, with ``compression=None`` (nothing negotiated);
- idle, with deflate negotiated (``Deflate()``): no zlib state yet;
- after one compressed message each way on every connection: the
  compressor and decompressor now exist and, with context takeover, stay;
  with no context takeover either way
  (``Deflate(client_no_context_takeover=True, server_no_context_takeover=True)``)
  they are dropped after each message.

Each figure is the traced memory divided by N, the client's share only.
``--server-bits 12`` makes the server ask for 12-bit windows, as websockets'
own default does; the default here is 15 bits both ways (the RFC's default,
and what a server that states nothing gets).

Run: ``uv run python bench/deflate_memory.py [-n 200] [--engines native,wsproto]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import tracemalloc
from typing import Any

from openwire import Client, Deflate

MESSAGE = ('{"type": "trade", "symbol": "BTC-USD", "price": 64123.5, "qty": 0.25} ' * 8).encode()


async def _serve(bits: int) -> None:
    from websockets.asyncio.server import serve
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    factory = ServerPerMessageDeflateFactory(
        server_max_window_bits=bits if bits < 15 else None,
        client_max_window_bits=bits if bits < 15 else None,
        compress_settings={"memLevel": 5},
    )
    async with serve(
        echo, "127.0.0.1", 0, extensions=[factory], ping_interval=None, compression=None
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


async def _measure(url: str, engine: str, n: int, compression: Deflate | None) -> list[float]:
    """Bytes per connection: idle, then after one message each way."""
    async with Client() as client:
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        sockets = []
        for _ in range(n):
            ws = await client.new_websocket(
                url, engine=engine, compression=compression, ping_interval=None
            ).execute()
            sockets.append(ws)
        assert all(bool(ws.extensions) == (compression is not None) for ws in sockets)
        gc.collect()
        idle = tracemalloc.get_traced_memory()[0]
        for ws in sockets:
            await ws.send(MESSAGE)
        for ws in sockets:
            assert (await ws.receive()).data == MESSAGE
        gc.collect()
        used = tracemalloc.get_traced_memory()[0]
        for ws in sockets:
            await ws.close()
        return [(idle - base) / n, (used - base) / n]


async def _main(args: argparse.Namespace, url: str) -> None:
    tracemalloc.start()
    # A warm-up round first, so imports and caches are not charged to a figure.
    for engine in args.engines:
        await _measure(url, engine, 2, Deflate())
    print(
        f"{args.n} connections, server windows {args.server_bits} bits, "
        f"message {len(MESSAGE)} B; KiB per connection"
    )
    print(
        "| engine | no deflate, idle | no deflate, 1 msg each way "
        "| deflate, idle | deflate, 1 msg each way | no takeover, 1 msg each way |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    fresh = Deflate(client_no_context_takeover=True, server_no_context_takeover=True)
    for engine in args.engines:
        off = await _measure(url, engine, args.n, None)
        on = await _measure(url, engine, args.n, Deflate())
        no_takeover = await _measure(url, engine, args.n, fresh)
        cells = " | ".join(f"{v / 1024:.1f}" for v in (*off, *on, no_takeover[1]))
        print(f"| {engine} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="connections per measurement")
    parser.add_argument("--server-bits", type=int, default=15, help="window bits the server asks")
    parser.add_argument("--engines", default="native,wsproto,websockets,aiohttp")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve))
        return
    args.engines = args.engines.split(",")
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.server_bits)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        asyncio.run(_main(args, f"ws://127.0.0.1:{server.stdout.readline().strip()}"))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
