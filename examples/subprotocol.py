"""Negotiate a subprotocol and react to the server's choice.

python examples/subprotocol.py               # against a local echo server it starts
python examples/subprotocol.py URL chat.v2 chat.v1
"""

from __future__ import annotations

import sys

import anyio
from openwire import Client, InvalidSubprotocol
from openwire.cli.demo_server import EchoServer


async def negotiate(url: str, offered: list[str]) -> None:
    async with Client() as client:
        try:
            async with client.websocket(url, subprotocols=offered) as ws:
                # The server picks one of the offered names (or none at all).
                print(f"offered {offered}, server chose {ws.subprotocol!r}")
                if ws.subprotocol == "chat.v2":
                    await ws.send('{"type": "hello", "version": 2}')
                else:
                    await ws.send("HELLO v1")
                print("reply:", (await ws.receive()).data)
        except InvalidSubprotocol as exc:
            # A server that picks something we did not offer is refused.
            print(f"refused: {exc}")


def main() -> None:
    if len(sys.argv) > 2:
        anyio.run(negotiate, sys.argv[1], sys.argv[2:])
        return
    with EchoServer() as server:
        anyio.run(negotiate, server.url, ["chat.v2", "chat.v1"])


if __name__ == "__main__":
    main()
