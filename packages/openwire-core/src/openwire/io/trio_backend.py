"""The trio backend: trio's own tasks and clock, anyio's sockets.

Rules:

- Detached tasks are trio *system* tasks, so a WebSocket is not tied to the
  nursery of whoever opened it; :func:`~openwire.io.runtime.guarded` keeps
  them from raising (which would end the whole trio run) and lets only
  ``trio.Cancelled``, by type, end them quietly.
- Timers: trio has no callback timer, so every timer of one trio run shares
  one system task that sleeps until the earliest deadline (a heap, and a
  cancel scope whose deadline moves when an earlier timer arrives). A timer
  is then a heap entry, not a task: an idle WebSocket's heartbeat costs no
  task of its own.
- Connections are anyio socket streams inside httpcore's network stream
  (httpcore speaks HTTP on them); after a ``101`` the channel writes the
  anyio stream directly, and reads it too over TLS. Over plain TCP the
  reader reads the socket under it itself (:class:`~openwire.io.channel.SocketReads`):
  an idle connection is one task waiting on its socket, with no stream
  coroutines and no cancel scope held above it. Reaching the anyio stream
  needs private names, kept in :mod:`openwire._compat`; without them the
  public, slower paths are used.
- One :class:`TrioRuntime` per run (a run variable), shared by its connections.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import anyio
import anyio.abc
import httpcore

from openwire import _compat
from openwire.io.anyio_stream import ClosesOnFailedTLS
from openwire.io.channel import Channel, ChannelSink, SocketReads, StreamChannel
from openwire.io.handover import Detached
from openwire.io.runtime import Handle, Runtime, Waiter, guarded

__all__ = ["TrioBackend", "TrioRuntime"]

_log = logging.getLogger("openwire.websocket")
_T = TypeVar("_T")


class _Timer:
    __slots__ = ("fn", "timers")

    def __init__(self, fn: Callable[[], None], timers: _Timers) -> None:
        self.fn: Callable[[], None] | None = fn
        self.timers = timers

    def cancel(self) -> None:
        # Drop the callback now: a cancelled entry waits in the heap until its
        # deadline and must not keep a closed session alive until then.
        if self.fn is not None:
            self.fn = None
            self.timers.cancelled += 1


class _Timers:
    """Every timer of one trio run, on one system task (see the module's rules)."""

    def __init__(self, trio: Any) -> None:
        self._trio = trio
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = 0
        self._scope: Any = None
        self._running = False
        self.cancelled = 0

    def call_later(self, delay: float, fn: Callable[[], None]) -> _Timer:
        trio = self._trio
        when = trio.current_time() + delay
        timer = _Timer(fn, self)
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, timer))
        if not self._running:
            self._running = True
            trio.lowlevel.spawn_system_task(self._run, name="openwire-timers")
        elif self._scope is not None and when < self._scope.deadline:
            self._scope.deadline = when
        if self.cancelled > 64 and self.cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if entry[2].fn is not None]
            heapq.heapify(self._heap)
            self.cancelled = 0
        return timer

    async def _run(self) -> None:
        trio = self._trio
        try:
            while self._heap:
                when, _, timer = self._heap[0]
                if timer.fn is None:
                    heapq.heappop(self._heap)
                    self.cancelled = max(0, self.cancelled - 1)
                    continue
                if when <= trio.current_time():
                    heapq.heappop(self._heap)
                    fn, timer.fn = timer.fn, None
                    try:
                        fn()
                    except Exception:  # one timer's failure must not stop the others
                        _log.exception("openwire timer callback failed")
                    continue
                with trio.CancelScope(deadline=when) as scope:
                    self._scope = scope
                    await trio.sleep_forever()
                self._scope = None
        finally:
            self._running = False
            self._scope = None


# trio.lowlevel.RunVar per name, made on first use (trio is imported lazily).
_RUN_VARS: dict[str, Any] = {}
_READS: SocketReads | None = None


def _socket_reads() -> SocketReads:
    """trio's way for a reader to read its socket itself (one for the process)."""
    global _READS
    if _READS is None:
        import trio

        cancelled = trio.Cancelled

        def spawn(fn: Callable[[], Awaitable[None]], name: str) -> None:
            trio.lowlevel.spawn_system_task(guarded, fn, name, cancelled, name=name)

        _READS = SocketReads(
            trio.lowlevel.wait_readable,
            trio.lowlevel.notify_closing,
            trio.lowlevel.checkpoint,
            spawn,
        )
    return _READS


def _per_run(name: str, make: Callable[..., _T], *args: Any) -> _T:
    """The current trio run's one value of ``name``, made on first use.

    A run variable, so each ``trio.run`` has its own and none outlives its run.
    """
    var = _RUN_VARS.get(name)
    if var is None:
        import trio

        var = _RUN_VARS[name] = trio.lowlevel.RunVar(name)
    try:
        found: _T = var.get()
    except LookupError:
        found = make(*args)
        var.set(found)
    return found


def _timers(trio: Any) -> _Timers:
    """The timers of the current trio run (one heap per ``trio.run``)."""
    return _per_run("openwire_timers", _Timers, trio)


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
    """The runtime of the running trio loop (one per run, shared by its connections)."""

    __slots__ = ("_cancelled", "_token", "_trio")
    backend = "trio"

    def __init__(self) -> None:
        import trio

        self._trio = trio
        self._cancelled: type[BaseException] = trio.Cancelled
        self._token = trio.lowlevel.current_trio_token()

    def time(self) -> float:
        return float(self._trio.current_time())

    def spawn(self, fn: Callable[[], Awaitable[None]], name: str) -> Handle:
        # The cancel scope is the handle, and guarded() enters it: no wrapper
        # coroutine stays suspended under the task's body for its whole life.
        scope = self._trio.CancelScope()
        self._trio.lowlevel.spawn_system_task(guarded, fn, name, self._cancelled, scope, name=name)
        handle: Handle = scope
        return handle

    def call_later(self, delay: float, fn: Callable[[], None]) -> Handle:
        return _timers(self._trio).call_later(delay, fn)

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
        """The run's one :class:`TrioRuntime`, shared by its connections."""
        return _per_run("openwire_runtime", TrioRuntime)

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

        if isinstance(inner, anyio.abc.SocketStream):
            # Plain TCP: the reader waits on the socket itself (SocketReads).
            return StreamChannel(
                sink,
                detached.stream,
                runtime,
                max_messages,
                max_bytes,
                leading=detached.leading,
                send=inner.send,
                socket=inner.extra(anyio.abc.SocketAttribute.raw_socket),
                reads=_socket_reads(),
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
