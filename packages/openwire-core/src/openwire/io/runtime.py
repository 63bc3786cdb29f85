"""The runtime contract: detached tasks, timers and waiters a session needs.

Rules of this module: it declares what a backend must provide and the two
helpers every backend shares; it imports no event loop. The implementations
are :class:`~openwire.io.asyncio_backend.AsyncioRuntime` and
:class:`~openwire.io.trio_backend.TrioRuntime`, chosen by
:func:`~openwire.io.backend.current_backend`.

A WebSocket outlives the ``await call.execute()`` that opened it, so its
reader, writer and timers cannot live in a task group the caller owns (that
is what makes httpx-ws require ``async with``). They run as detached tasks
that the session itself cancels on every path: close, failure, cancellation
and garbage collection. Because nobody awaits them, :func:`guarded` keeps a
failure in one of them from crashing the loop, and lets only the backend's
own cancellation (by type) end them quietly.

Waiters are the cheapest the backend offers: an asyncio future, or a trio
event; timers are ``loop.call_later`` on asyncio (no task at all).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["Handle", "Runtime", "Waiter", "Waiters", "guarded"]

_log = logging.getLogger("openwire.websocket")


class Handle(Protocol):
    """A task or a timer that can be cancelled; cancelling twice is harmless."""

    def cancel(self) -> object: ...


class Waiter(Protocol):
    """A one-shot wake-up: one task waits, anyone wakes it (once is enough)."""

    def wake(self) -> None: ...
    def wait(self) -> Awaitable[None]:
        """What to await; on asyncio the future itself (no coroutine per wait)."""
        ...


class Runtime(Protocol):
    """Clock, detached tasks, timers and waiters of one backend."""

    backend: str

    def time(self) -> float:
        """The backend's monotonic clock, in seconds."""
        ...

    def spawn(self, fn: Callable[[], Awaitable[None]], name: str) -> Handle:
        """Run ``fn`` detached from the caller's task; it never raises into the loop."""
        ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> Handle:
        """Call ``fn`` (synchronously) after ``delay`` seconds unless cancelled first."""
        ...

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        """Schedule ``fn`` from anywhere (a finalizer, a thread); dropped once the loop ended."""
        ...

    def waiter(self) -> Waiter: ...
    def fail_after(self, delay: float | None) -> contextlib.AbstractAsyncContextManager[object]:
        """Raise :class:`TimeoutError` in the body after ``delay`` seconds (``None``: never)."""
        ...


class Waiters:
    """Tasks waiting for one condition; woken all at once, each re-checks."""

    __slots__ = ("_runtime", "_waiters")

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        # Made on the first wait: every connection has a few of these, and
        # most never wait on them.
        self._waiters: list[Waiter] | None = None

    async def wait(self) -> None:
        waiter = self._runtime.waiter()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter.wait()
        finally:
            if self._waiters is not None:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def wake_all(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            waiter.wake()


async def guarded(
    fn: Callable[[], Awaitable[None]],
    name: str,
    cancelled: type[BaseException],
    scope: contextlib.AbstractContextManager[object] | None = None,
) -> None:
    """Run a detached task's body: log its failures, end quietly on ``cancelled``.

    ``cancelled`` is the backend's cancellation type (``asyncio.CancelledError``,
    ``trio.Cancelled``). Anything else that is not an ``Exception``
    (``KeyboardInterrupt``, ``SystemExit``) still propagates. ``scope`` is
    entered around the body (trio's cancel scope of the task): here rather
    than in a wrapper coroutine, because every coroutine suspended under an
    idle reader is memory held per connection.
    """
    try:
        if scope is None:
            await fn()
        else:
            # An error inside leaves the scope, which lets through all but its
            # own cancellation; this except clause then sees it.
            with scope:
                await fn()
    except Exception:  # a detached task must never crash the loop
        _log.exception("openwire background task %s failed", name)
    except cancelled:
        pass
