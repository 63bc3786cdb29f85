"""Echo a few messages over a WebSocket.

python examples/echo.py                      # against a local echo server it starts
python examples/echo.py wss://example.org/ws # against your own server
"""

from __future__ import annotations

import sys

import anyio
from openwire import Client, ConnectionClosed
from openwire.cli.demo_server import EchoServer


async def echo(url: str) -> None:
    async with Client() as client, client.websocket(url) as ws:
        print(f"connected with the {ws.engine} engine")
        for message in ("hello", b"\x00\x01\x02", "bye"):
            await ws.send(message)
            reply = await ws.receive()
            print(f"sent {message!r}, got {reply.data!r}")
        print(f"ping round trip: {await ws.ping() * 1000:.2f} ms")
    print(f"closed with {ws.close_code}")


def main() -> None:
    if len(sys.argv) > 1:
        anyio.run(echo, sys.argv[1])
        return
    with EchoServer() as server:
        try:
            anyio.run(echo, server.url)
        except ConnectionClosed as exc:
            sys.exit(f"connection closed: {exc}")


if __name__ == "__main__":
    main()
