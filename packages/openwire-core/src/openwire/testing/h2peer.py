"""A scripted WebSocket peer over HTTP/2 (RFC 8441), for the conformance suite.

:class:`H2ScriptedServer` speaks prior-knowledge HTTP/2 on plain TCP (the
client uses ``ws://`` with ``http_version="2"``), so no certificate is
needed; it advertises ``SETTINGS_ENABLE_CONNECT_PROTOCOL`` and hands the
first stream of each connection to a script as an :class:`H2Peer`. An
``H2Peer`` has the API of :class:`~openwire.testing.servers.RawPeer`
(``handshake``, ``send``, ``read_frame``, ``read_until_close``,
``wait_eof``, ``close``), so one script can play either version; the
differences are what HTTP/2 adds: :attr:`H2Peer.ended` (the client sent
END_STREAM), :attr:`H2Peer.reset_code` (it sent RST_STREAM) and
:meth:`H2Peer.reset` (the server resets the stream).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
from openwire.testing.frames import ClientFrame, FrameReader, frame
from openwire.testing.servers import BackgroundLoop

__all__ = ["H2Peer", "H2ScriptedServer"]


class H2Peer:
    """The first stream of one HTTP/2 connection, driven by a script."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config)
        self.stream_id: int | None = None
        self.request_headers: dict[str, str] = {}
        self.pseudo: dict[str, str] = {}
        self.path = ""
        self.received = bytearray()
        self.frames: list[ClientFrame] = []
        self.eof = False
        self.ended = False
        """The client ended its half of the stream (END_STREAM)."""
        self.ended_with_close = False
        """END_STREAM came on the DATA frame that carried the client's Close."""
        self.reset_code: int | None = None
        """The error code of the client's RST_STREAM, if it sent one."""
        self._parser = FrameReader()
        self._pending: list[ClientFrame] = []
        self._changed = asyncio.Event()
        self._request = asyncio.Event()
        self._window_opened = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # In the first SETTINGS, which is all a client waits for (RFC 8441 §3).
        self.conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1},
        )
        self.conn.initiate_connection()
        await self._flush()
        self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    async def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def _pump(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for event in self.conn.receive_data(data):
                    self._on_event(event)
                await self._flush()
        except (ConnectionError, OSError, h2.exceptions.H2Error):
            pass
        self.eof = True
        self._changed.set()
        self._request.set()

    def _on_event(self, event: Any) -> None:
        if isinstance(event, h2.events.RequestReceived) and self.stream_id is None:
            self.stream_id = event.stream_id
            for name, value in event.headers or []:
                key, text = name.decode("latin-1"), value.decode("latin-1")
                if key.startswith(":"):
                    self.pseudo[key] = text
                elif key in self.request_headers:
                    self.request_headers[key] += ", " + text
                else:
                    self.request_headers[key] = text
            self.path = self.pseudo.get(":path", "")
            self._request.set()
        elif isinstance(event, h2.events.DataReceived) and event.stream_id == self.stream_id:
            data = event.data or b""
            if event.flow_controlled_length:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            self.received += data
            parsed = self._parser.feed(data)
            self.frames += parsed
            self._pending += parsed
            if event.stream_ended is not None:
                self.ended = True
                self.ended_with_close = bool(parsed) and parsed[-1].opcode == 0x8
            self._changed.set()
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id == self.stream_id:
            self.ended = True
            self._changed.set()
        elif isinstance(event, h2.events.WindowUpdated):
            self._window_opened.set()
        elif isinstance(event, h2.events.StreamReset) and event.stream_id == self.stream_id:
            self.reset_code = int(event.error_code or 0)
            self._changed.set()

    # -- the RawPeer API -------------------------------------------------------
    async def read_request(self) -> None:
        await asyncio.wait_for(self._request.wait(), 5)
        if self.stream_id is None:
            raise ConnectionError("the client closed the connection before a request")

    async def handshake(
        self,
        *,
        status: str = "200",
        headers: Sequence[tuple[str, str]] | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        trailing: bytes = b"",
    ) -> None:
        """Read the extended CONNECT and answer it (``200`` unless told otherwise)."""
        await self.read_request()
        assert self.stream_id is not None
        code = status.split(" ")[0]
        fields = [(b":status", code.encode())]
        for name, value in [*(headers or ()), *extra_headers]:
            fields.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        accepted = code.startswith("2")
        self.conn.send_headers(self.stream_id, fields, end_stream=not accepted and not body)
        if body and not accepted:
            self.conn.send_data(self.stream_id, body, end_stream=True)
        elif trailing:
            self.conn.send_data(self.stream_id, trailing)
        await self._flush()

    async def send(self, data: bytes, end_stream: bool = False) -> None:
        assert self.stream_id is not None
        while data:
            window = min(
                self.conn.local_flow_control_window(self.stream_id),
                self.conn.max_outbound_frame_size,
            )
            if window <= 0:
                self._window_opened.clear()
                await self._flush()
                await asyncio.wait_for(self._window_opened.wait(), 5)
                continue
            chunk, data = data[:window], data[window:]
            self.conn.send_data(self.stream_id, chunk, end_stream=end_stream and not data)
        await self._flush()

    async def send_frame(self, opcode: int, payload: bytes = b"", **kwargs: Any) -> None:
        await self.send(frame(opcode, payload, **kwargs))

    async def read_frame(self, timeout: float = 5) -> ClientFrame | None:
        """The next client frame, or ``None`` once the client ended or reset the stream."""
        while not self._pending:
            if self.ended or self.eof or self.reset_code is not None:
                return None
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), timeout)
        return self._pending.pop(0)

    async def read_until_close(self, timeout: float = 5) -> ClientFrame | None:
        while True:
            got = await self.read_frame(timeout)
            if got is None or got.opcode == 0x8:
                return got

    async def wait_eof(self, timeout: float = 5) -> bool:
        """True once the client ended (END_STREAM) or reset its stream within ``timeout``."""
        try:
            while await self.read_frame(timeout) is not None:
                pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """End the server's half of the stream (END_STREAM), as TCP's FIN in HTTP/1.1."""
        if self.stream_id is not None:
            try:
                self.conn.end_stream(self.stream_id)
                self.writer.write(self.conn.data_to_send())
            except h2.exceptions.H2Error:
                pass

    def reset(self, code: int = h2.errors.ErrorCodes.CANCEL) -> None:
        """Reset the stream (RST_STREAM with ``code``)."""
        if self.stream_id is not None:
            self.conn.reset_stream(self.stream_id, code)
            self.writer.write(self.conn.data_to_send())

    async def stop(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            await asyncio.gather(self._pump_task, return_exceptions=True)


Script = Callable[[H2Peer], Awaitable[None]]


class H2ScriptedServer:
    """A prior-knowledge HTTP/2 server on 127.0.0.1 that plays a script per connection."""

    def __init__(self, bg: BackgroundLoop, script: Script) -> None:
        self._bg = bg
        self._script = script
        self.peers: list[H2Peer] = []
        self._done: list[Future[None]] = []
        self._server: asyncio.Server | None = None
        self.port = 0
        self._connected = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        self.peers.append(peer)
        self._connected.set()
        try:
            await peer.start()
            await self._script(peer)
        finally:
            await peer.stop()
            writer.close()

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        future: Future[None] = Future()
        self._done.append(future)
        task = self._bg.loop.create_task(self._handle(reader, writer))

        def finished(t: asyncio.Task[None]) -> None:
            if t.cancelled():
                future.set_result(None)
            elif (error := t.exception()) is not None:
                future.set_exception(error)
            else:
                future.set_result(None)

        task.add_done_callback(finished)

    def start(self) -> H2ScriptedServer:
        async def start() -> None:
            self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        self._bg.run(start())
        return self

    def wait_sync(self, timeout: float = 10) -> None:
        if not self._connected.wait(timeout):
            raise TimeoutError("no client connected to the HTTP/2 scripted server")
        for future in list(self._done):
            future.result(timeout)

    async def wait(self, timeout: float = 10) -> None:
        import anyio.to_thread

        await anyio.to_thread.run_sync(self.wait_sync, timeout)

    def stop(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                for peer in self.peers:
                    peer.writer.close()

        self._bg.run(stop())
