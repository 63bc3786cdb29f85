"""The trio backend: trio's own tasks and clock, anyio's sockets.

Rules:

- Detached tasks are trio *system* tasks, so a WebSocket is not tied to the
  nursery of whoever opened it; :func:`~openwire.io.runtime.guarded` keeps
  them from raising (which would end the whole trio run) and lets only
  ``trio.Cancelled``, by type, end them quietly.
- Timers are tasks that sleep: trio has no callback timer.
- Connections are anyio socket streams inside httpcore's network stream
  (httpcore speaks HTTP on them); after a ``101`` the channel reads and
  writes the anyio stream directly. Both need private names, kept in
  :mod:`openwire._compat`; without them the public, slower paths are used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import anyio.abc
import httpcore

from openwire import _compat
from openwire.io.anyio_stream import ClosesOnFailedTLS
from openwire.io.channel import Channel, ChannelSink, StreamChannel
from openwire.io.handover import Detached
from openwire.io.runtime import Handle, Runtime, Waiter, guarded

__all__ = ["TrioBackend", "TrioRuntime"]


class _TrioTask:
    __slots__ = ("scope",)

    def __init__(self, scope: Any) -> None:
        self.scope = scope

    def cancel(self) -> None:
        self.scope.cancel()


class _TrioWaiter:
    __slots__ = ("_event",)

    def __init__(self, event: Any) -> None:
        self._event = event

    def wake(self) -> None:
        self._event.set()

    def wait(self) -> Awaitable[None]:
        return self._event.wait()  # type: ignore[no-any-return]


class _TrioFailAfter:
    """trio's ``fail_after`` with the stdlib's TimeoutError, used with ``async with``."""

    def __init__(self, trio: Any, delay: float | None) -> None:
        self._scope = trio.move_on_after(float("inf") if delay is None else delay)

    async def __aenter__(self) -> object:
        return self._scope.__enter__()

    async def __aexit__(self, *exc_info: Any) -> bool:
        self._scope.__exit__(*exc_info)
        if self._scope.cancelled_caught:
            raise TimeoutError
        return False


class TrioRuntime:
    """The runtime of the running trio loop."""

    backend = "trio"

    def __init__(self) -> None:
        import trio

        self._trio = trio
        self._cancelled: type[BaseException] = trio.Cancelled
        self._token = trio.lowlevel.current_trio_token()

    def time(self) -> float:
        return float(self._trio.current_time())

    def spawn(self, fn: Callable[[], Awaitable[None]], name: str) -> Handle:
        handle = _TrioTask(self._trio.CancelScope())
        cancelled = self._cancelled

        async def run() -> None:
            with handle.scope:
                await guarded(fn, name, cancelled)

        self._trio.lowlevel.spawn_system_task(run, name=name)
        return handle

    def call_later(self, delay: float, fn: Callable[[], None]) -> Handle:
        trio = self._trio

        async def sleep_then_call() -> None:
            await trio.sleep(delay)
            fn()

        return self.spawn(sleep_then_call, "openwire-timer")

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        with contextlib.suppress(self._trio.RunFinishedError):
            self._token.run_sync_soon(fn)

    def waiter(self) -> Waiter:
        return _TrioWaiter(self._trio.Event())

    def fail_after(self, delay: float | None) -> contextlib.AbstractAsyncContextManager[object]:
        return _TrioFailAfter(self._trio, delay)


class TrioBackend:
    """trio, through anyio's sockets: see the module's rules."""

    name = "trio"

    def __init__(self) -> None:
        self._fallback = httpcore.AnyIOBackend()

    def runtime(self) -> Runtime:
        return TrioRuntime()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if not _compat.FAST_ANYIO:
            return ClosesOnFailedTLS(
                await self._fallback.connect_tcp(
                    host, port, timeout=timeout, socket_options=socket_options
                )
            )
        try:
            with anyio.fail_after(timeout):
                stream = await _compat.connect_tcp_plain(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except (OSError, anyio.BrokenResourceError) as exc:
            raise httpcore.ConnectError(str(exc) or repr(exc)) from exc
        for option in socket_options or ():
            stream.extra(anyio.abc.SocketAttribute.raw_socket).setsockopt(*option)
        return ClosesOnFailedTLS(_compat.httpcore_stream_over(stream))

    def open_channel(
        self,
        sink: ChannelSink,
        detached: Detached,
        runtime: Runtime,
        *,
        max_messages: int,
        max_bytes: int,
    ) -> Channel:
        if detached.open_channel is not None:
            made: Channel = detached.open_channel(sink, runtime, max_bytes)
            return made
        stream = detached.stream
        if isinstance(stream, ClosesOnFailedTLS):  # a plain ws:// connection
            stream = stream.inner
        inner = _compat.anyio_stream_inside(stream)
        if inner is None:
            return StreamChannel(
                sink, detached.stream, runtime, max_messages, max_bytes, leading=detached.leading
            )

        async def receive(n: int) -> bytes:
            try:
                return bytes(await inner.receive(n))
            except anyio.EndOfStream:
                return b""

        return StreamChannel(
            sink,
            detached.stream,
            runtime,
            max_messages,
            max_bytes,
            leading=detached.leading,
            read=receive,
            send=inner.send,
        )
