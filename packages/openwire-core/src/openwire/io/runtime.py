"""The few backend primitives a WebSocket session needs, for asyncio and trio.

A WebSocket outlives the ``await call.execute()`` that opened it, so its
reader, writer and timers cannot live in a task group the caller owns (that
is what makes httpx-ws require ``async with``). They run as detached tasks
that the session itself cancels on every path: close, failure, cancellation
and garbage collection.

Waiters are the cheapest the backend offers: an asyncio future, or a trio
event; timers are ``loop.call_later`` on asyncio (no task at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import sniffio

from openwire.errors import EngineUnavailable

__all__ = ["Handle", "Runtime", "Waiter", "current_runtime"]

_log = logging.getLogger("openwire.websocket")


class Handle(Protocol):
    def cancel(self) -> object: ...


class Waiter(Protocol):
    def wake(self) -> None: ...
    def wait(self) -> Awaitable[None]:
        """What to await; on asyncio the future itself (no coroutine per wait)."""
        ...


class Runtime(Protocol):
    backend: str

    def time(self) -> float: ...
    def spawn(self, fn: Callable[[], Awaitable[None]], name: str) -> Handle: ...
    def call_later(self, delay: float, fn: Callable[[], None]) -> Handle: ...
    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None: ...
    def waiter(self) -> Waiter: ...
    def fail_after(self, delay: float | None) -> contextlib.AbstractAsyncContextManager[object]:
        """Raise :class:`TimeoutError` in the body after ``delay`` seconds (``None``: never)."""
        ...


# ------------------------------------------------------------------- asyncio


class _AsyncioWaiter:
    __slots__ = ("_future",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._future: asyncio.Future[None] = loop.create_future()

    def wake(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    def wait(self) -> Awaitable[None]:
        return self._future


class AsyncioRuntime:
    backend = "asyncio"

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()

    def time(self) -> float:
        return self.loop.time()

    def spawn(self, fn: Callable[[], Awaitable[None]], name: str) -> Handle:
        task = self.loop.create_task(_guarded(fn, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def call_later(self, delay: float, fn: Callable[[], None]) -> Handle:
        return self.loop.call_later(delay, fn)

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed
            self.loop.call_soon_threadsafe(fn)

    def waiter(self) -> Waiter:
        return _AsyncioWaiter(self.loop)

    def fail_after(self, delay: float | None) -> contextlib.AbstractAsyncContextManager[object]:
        # A timer and a task.cancel(): a fraction of a cancel scope's cost.
        return asyncio.timeout(delay)


# ---------------------------------------------------------------------- trio


class _TrioTask:
    __slots__ = ("scope",)

    def __init__(self) -> None:
        import trio

        self.scope = trio.CancelScope()

    def cancel(self) -> None:
        self.scope.cancel()


class TrioRuntime:
    backend = "trio"

    def __init__(self) -> None:
        import trio

        self._trio = trio
        self._token = trio.lowlevel.current_trio_token()

    def time(self) -> float:
        return float(self._trio.current_time())

    def spawn(self, fn: Callable[[], Awaitable[None]], name: str) -> Handle:
        handle = _TrioTask()

        async def run() -> None:
            with handle.scope:
                await _guarded(fn, name)

        # A system task is not tied to the caller's nursery; _guarded makes
        # sure it never raises (which would crash the whole trio run).
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


class _TrioWaiter:
    __slots__ = ("_event",)

    def __init__(self, event: Any) -> None:
        self._event = event

    def wake(self) -> None:
        self._event.set()

    def wait(self) -> Awaitable[None]:
        return self._event.wait()  # type: ignore[no-any-return]


async def _guarded(fn: Callable[[], Awaitable[None]], name: str) -> None:
    try:
        await fn()
    except Exception:  # a detached task must never crash the loop
        _log.exception("openwire background task %s failed", name)
    except BaseException as exc:
        if not _is_cancellation(exc):
            raise  # KeyboardInterrupt, SystemExit


def _is_cancellation(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.CancelledError):
        return True
    return type(exc).__name__ == "Cancelled" and type(exc).__module__.startswith("trio")


def current_runtime() -> Runtime:
    """The runtime for the async library running the current task."""
    backend = sniffio.current_async_library()
    if backend == "asyncio":
        return AsyncioRuntime()
    if backend == "trio":
        return TrioRuntime()
    raise EngineUnavailable(
        f"openwire WebSockets run on asyncio or trio; the current async library is {backend!r}"
    )
