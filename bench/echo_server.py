"""The loopback echo peer every benchmark client talks to.

The server has to be faster than any client under test, otherwise the numbers
measure the server. picows (C-accelerated, frame-level callbacks, no message
reassembly) is used whenever it is installed; it only ships in the ``bench``
dependency group, so the smoke test and plain dev environments fall back to a
websockets server, which is slower but good enough to prove the harness works.

Frames are echoed one by one with their opcode and FIN bit, so fragmented
messages come back fragmented exactly as sent and the server never buffers a
whole message.

Besides the plain echo port the same process serves, on the same event loop:

* a TLS port (``--cert``/``--key``): the same echo over ``wss``;
* the ``/broadcast`` path on both ports: the connection is a subscriber that
  receives a 32-byte binary message every 100 ms, the first 8 bytes being
  ``time.monotonic_ns()`` (one system-wide clock, so the client reads its
  delivery delay) taken once per tick before the fan-out, so the delay
  includes the server's own fan-out time, as it would for any broadcaster;
* a permessage-deflate echo port served by websockets (picows has no
  compression): only the compression workloads use it.

Run as a script it prints ``READY <impl> <port> tls=<port> deflate=<port>``
once listening, which is what the runner waits for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import signal
import ssl
import time
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


BROADCAST_PATH = b"/broadcast"
BROADCAST_PERIOD = 0.1
BROADCAST_SIZE = 32


class Broadcaster:
    """Sends one timestamped message to every subscriber each period."""

    def __init__(self, send: Any) -> None:
        self.subscribers: set[Any] = set()
        self._send = send
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        pad = bytes(BROADCAST_SIZE - 8)

        def tick() -> None:
            self._handle = loop.call_later(BROADCAST_PERIOD, tick)
            if self.subscribers:
                message = time.monotonic_ns().to_bytes(8) + pad
                send = self._send
                for subscriber in self.subscribers:
                    send(subscriber, message)

        tick()


async def _serve_picows(port: int, ssl_context: ssl.SSLContext | None = None) -> tuple[Any, int]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    data_types = (WSMsgType.BINARY, WSMsgType.TEXT, WSMsgType.CONTINUATION)
    broadcaster = _BROADCASTERS.setdefault(
        "picows", Broadcaster(lambda transport, data: transport.send(WSMsgType.BINARY, data))
    )

    class Subscriber(WSListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            broadcaster.subscribers.add(transport)

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            broadcaster.subscribers.discard(transport)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                broadcaster.subscribers.discard(transport)
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    class Echo(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            msg_type = frame.msg_type
            if msg_type in data_types:
                transport.send(msg_type, frame.get_payload_as_memoryview(), frame.fin)
            elif msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    def listener(request: Any) -> WSListener:
        return Subscriber() if request.path == BROADCAST_PATH else Echo()

    server = await ws_create_server(
        listener,
        HOST,
        port,
        max_frame_size=1 << 30,
        backlog=BACKLOG,
        ssl=ssl_context,
    )
    return server, server.sockets[0].getsockname()[1]


_BROADCASTERS: dict[str, Broadcaster] = {}


async def _serve_websockets(
    port: int, ssl_context: ssl.SSLContext | None = None, deflate: bool = False
) -> tuple[Any, int]:
    from websockets.asyncio.server import ServerConnection, serve

    broadcaster = _BROADCASTERS.setdefault(
        "websockets", Broadcaster(lambda ws, data: ws.protocol.send_binary(data) or ws.send_data())
    )

    async def echo(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == BROADCAST_PATH.decode():
            broadcaster.subscribers.add(ws)
            try:
                await ws.wait_closed()
            finally:
                broadcaster.subscribers.discard(ws)
            return
        with contextlib.suppress(Exception):
            async for message in ws:
                await ws.send(message)

    server = await serve(
        echo,
        HOST,
        port,
        ssl=ssl_context,
        compression="deflate" if deflate else None,
        max_size=None,
        ping_interval=None,
        backlog=BACKLOG,
    )
    return server, next(iter(server.sockets)).getsockname()[1]


async def serve(
    impl: str,
    port: int,
    watch_stdin: bool = False,
    cert: str | None = None,
    key: str | None = None,
) -> None:
    start = _serve_picows if impl == "picows" else _serve_websockets
    server, bound = await start(port)
    servers = [server]
    ready = f"READY {impl} {bound}"
    if cert and key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        tls_server, tls_port = await start(0, context)
        servers.append(tls_server)
        ready += f" tls={tls_port}"
    if importlib.util.find_spec("websockets") is not None:
        deflate_server, deflate_port = await _serve_websockets(0, deflate=True)
        servers.append(deflate_server)
        ready += f" deflate={deflate_port}"
    for broadcaster in _BROADCASTERS.values():
        broadcaster.start()
    print(ready, flush=True)
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
    for each in servers:
        each.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="auto", choices=["auto", "picows", "websockets"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--watch-stdin", action="store_true", help="exit when stdin closes (parent gone)"
    )
    parser.add_argument("--cert", help="PEM certificate chain for the TLS port")
    parser.add_argument("--key", help="PEM private key for the TLS port")
    args = parser.parse_args(argv)
    raise_fd_limit()
    asyncio.run(serve(pick_impl(args.impl), args.port, args.watch_stdin, args.cert, args.key))


if __name__ == "__main__":
    main()
