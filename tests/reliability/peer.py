"""A websockets server in a process of its own, for tests that weigh the client.

Tests that measure the client's memory and file descriptors cannot share the
process with the server: ``tracemalloc`` and ``/proc/self/fd`` would count the
server's side too. This one runs ``websockets``' asyncio server (the same
real peer as :class:`openwire.testing.servers.EchoServer`) in a child process:
``python -m tests.reliability.peer`` prints its port on the first line of
stdout and serves until its stdin is closed.

Paths:

- ``/`` echoes every message;
- ``/flood?count=N&size=S`` sends N binary messages of S bytes as fast as
  the client takes them, then echoes. Message ``i`` is :func:`numbered`
  ``(i, S)``, so the client can check each one is intact and in order.
"""

from __future__ import annotations

import asyncio
import resource
import struct
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["numbered"]


def numbered(index: int, size: int) -> bytes:
    """Message ``index`` of a flood: its number (8 bytes, big-endian), then a fill byte."""
    return struct.pack(">Q", index) + bytes([index % 251]) * (size - 8)


async def _handler(ws: Any) -> None:
    parts = urlsplit(ws.request.path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    try:
        if parts.path == "/flood":
            size = int(query.get("size", 1024))
            for index in range(int(query.get("count", 1))):
                await ws.send(numbered(index, size))
        async for message in ws:
            await ws.send(message)
    except Exception:
        return


async def _serve() -> None:
    from websockets.asyncio.server import serve

    loop = asyncio.get_running_loop()
    async with serve(
        _handler,
        "127.0.0.1",
        0,
        backlog=4096,
        ping_interval=None,
        compression=None,
        max_size=None,
    ) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)


def main() -> None:
    # As many connections as the hard limit allows: the tests open thousands.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
