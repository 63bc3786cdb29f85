"""The loopback echo peer every benchmark client talks to.

The server has to be faster than any client under test, otherwise the numbers
measure the server. picows (C-accelerated, frame-level callbacks, no message
reassembly) is used whenever it is installed; it only ships in the ``bench``
dependency group, so the smoke test and plain dev environments fall back to a
websockets server, which is slower but good enough to prove the harness works.

Frames are echoed one by one with their opcode and FIN bit, so fragmented
messages come back fragmented exactly as sent and the server never buffers a
whole message.

Run as a script it prints ``READY <impl> <port>`` once listening, which is
what the runner waits for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import signal
from typing import Any

from procstats import raise_fd_limit

HOST = "127.0.0.1"
# Large enough for the 1000-connection memory workload arriving in bursts.
BACKLOG = 4096


def available_impls() -> list[str]:
    impls = []
    if importlib.util.find_spec("picows") is not None:
        impls.append("picows")
    if importlib.util.find_spec("websockets") is not None:
        impls.append("websockets")
    return impls


def pick_impl(requested: str) -> str:
    impls = available_impls()
    if requested == "auto":
        if not impls:
            raise SystemExit("no echo server implementation: install picows or websockets")
        return impls[0]
    if requested not in impls:
        raise SystemExit(f"echo server {requested!r} is not installed (have: {impls})")
    return requested


async def _serve_picows(port: int) -> tuple[Any, int]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    data_types = (WSMsgType.BINARY, WSMsgType.TEXT, WSMsgType.CONTINUATION)

    class Echo(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            msg_type = frame.msg_type
            if msg_type in data_types:
                transport.send(msg_type, frame.get_payload_as_memoryview(), frame.fin)
            elif msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    server = await ws_create_server(
        lambda _request: Echo(),
        HOST,
        port,
        max_frame_size=1 << 30,
        backlog=BACKLOG,
    )
    return server, server.sockets[0].getsockname()[1]


async def _serve_websockets(port: int) -> tuple[Any, int]:
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            async for message in ws:
                await ws.send(message)

    server = await serve(
        echo,
        HOST,
        port,
        compression=None,
        max_size=None,
        ping_interval=None,
        backlog=BACKLOG,
    )
    return server, next(iter(server.sockets)).getsockname()[1]


async def serve(impl: str, port: int, watch_stdin: bool = False) -> None:
    server, bound = await (_serve_picows(port) if impl == "picows" else _serve_websockets(port))
    print(f"READY {impl} {bound}", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def finish() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finish)
    if watch_stdin:
        # The runner holds our stdin open; EOF means it died without stopping us.
        def on_stdin() -> None:
            if not os.read(0, 4096):
                loop.remove_reader(0)
                finish()

        loop.add_reader(0, on_stdin)
    await stop
    server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="auto", choices=["auto", "picows", "websockets"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--watch-stdin", action="store_true", help="exit when stdin closes (parent gone)"
    )
    args = parser.parse_args(argv)
    raise_fd_limit()
    asyncio.run(serve(pick_impl(args.impl), args.port, args.watch_stdin))


if __name__ == "__main__":
    main()
