"""Small fakes of the I/O contracts, and a driver that runs coroutines by hand.

Nothing here opens a socket or starts an event loop. :class:`FakeRuntime`
keeps a clock that moves only when a test calls :meth:`FakeRuntime.advance`,
firing due timers in order; :class:`FakeChannel` records what the session
writes and how it steers reading; :class:`Step` runs one of the session's
coroutines until it waits on a :class:`FakeWaiter`, so a test decides
exactly when each await resumes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any

from openwire.engines.connection import open_engine_connection
from openwire.engines.contract import EngineSettings
from openwire.engines.native import NativeEngine
from openwire.events import EventListener, ListenerDispatch
from openwire.protocol.frames import Opcode
from openwire.testing.frames import frame
from openwire.websocket.options import WebSocketOptions
from openwire.websocket.session import Session

from tests.engines.codec_cases import parse_client_frame

# ------------------------------------------------------------------ runtime


class FakeWaiter:
    """Awaiting it yields to the driver until someone wakes it."""

    def __init__(self) -> None:
        self.woken = False

    def wake(self) -> None:
        self.woken = True

    def wait(self) -> FakeWaiter:
        return self

    def __await__(self) -> Generator[Any, None, None]:
        while not self.woken:
            yield self


@dataclass
class FakeTimer:
    due: float
    fn: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeRuntime:
    """A hand-driven clock and timers; also stands in for an asyncio loop."""

    backend: str = "fake"
    now: float = 0.0
    timers: list[FakeTimer] = field(default_factory=list)
    soon: list[Callable[[], None]] = field(default_factory=list)
    spawned: list[Step] = field(default_factory=list)

    @property
    def loop(self) -> FakeRuntime:  # what AsyncioChannel schedules on
        return self

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, fn: Callable[..., None], *args: Any) -> FakeTimer:
        timer = FakeTimer(self.now + delay, (lambda: fn(*args)) if args else fn)
        self.timers.append(timer)
        return timer

    def call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        self.soon.append((lambda: fn(*args)) if args else fn)

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        self.soon.append(fn)

    def waiter(self) -> FakeWaiter:
        return FakeWaiter()

    def spawn(self, fn: Callable[[], Coroutine[Any, Any, None]], name: str) -> Step:
        step = Step(fn())
        self.spawned.append(step)
        return step

    def fail_after(self, delay: float | None) -> contextlib.AbstractAsyncContextManager[object]:
        return _never()

    def pending(self) -> list[FakeTimer]:
        return [t for t in self.timers if not t.cancelled]

    def run_soon(self) -> None:
        while self.soon:
            callbacks, self.soon = self.soon, []
            for callback in callbacks:
                callback()

    def advance(self, seconds: float) -> None:
        """Move the clock, firing every timer that falls due, in order."""
        end = self.now + seconds
        while True:
            due = sorted((t for t in self.pending() if t.due <= end), key=lambda t: t.due)
            if not due:
                break
            timer = due[0]
            self.now = max(self.now, timer.due)
            timer.cancelled = True  # fired: a later cancel() is a no-op
            timer.fn()
            self.run_soon()
        self.now = end


@contextlib.asynccontextmanager
async def _never() -> AsyncIterator[object]:
    yield None


class Step:
    """Runs a coroutine by hand: each :meth:`resume` goes on until it waits again."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.resume()

    def resume(self) -> Step:
        if not self.done:
            try:
                self._coro.send(None)
            except StopIteration as stop:
                self.done, self.result = True, stop.value
            except BaseException as exc:
                self.done, self.error = True, exc
        return self

    def cancel(self) -> None:
        if not self.done:
            self._coro.close()
            self.done = True


# ------------------------------------------------------------------ channel


class FakeChannel:
    """Records writes and reading state; the test decides when it is writable.

    Closing or aborting it ends the connection at once, as its
    ``wait_closed`` says: like every channel it then reports
    ``connection_lost`` to its sink, once (the channel contract).
    """

    def __init__(self) -> None:
        self.sink: Any = None
        self.lost = False
        self.written: list[bytes] = []
        self.writable = True
        self.reading = True
        self.closed_linger: float | None = None
        self.aborted = False
        self._writable_waiters: list[FakeWaiter] = []
        # None: every byte leaves at once; a number: that many have left.
        self.flushed_bytes: int | None = None
        self.marks: list[tuple[int, Callable[[], None]]] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def write_mark(self) -> int:
        return sum(map(len, self.written))

    def flushed(self) -> int:
        return self.write_mark() if self.flushed_bytes is None else self.flushed_bytes

    def call_when_flushed(self, mark: int, fn: Callable[[], None]) -> None:
        self.marks.append((mark, fn))

    def flush(self, upto: int | None = None) -> None:
        """Let bytes leave (all of them by default) and call the marks that passed."""
        self.flushed_bytes = upto
        flushed = self.flushed()
        due = [fn for mark, fn in self.marks if mark <= flushed]
        self.marks = [(mark, fn) for mark, fn in self.marks if mark > flushed]
        for fn in due:
            fn()

    def can_write(self) -> bool:
        return self.writable

    async def wait_writable(self) -> None:
        waiter = FakeWaiter()
        self._writable_waiters.append(waiter)
        await waiter

    def drained(self) -> None:
        self.writable = True
        waiters, self._writable_waiters = self._writable_waiters, []
        for waiter in waiters:
            waiter.wake()

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self, linger: float = 0.0) -> None:
        if self.closed_linger is None:
            self.closed_linger = linger
        self._lose()

    def abort(self) -> None:
        self.aborted = True
        self._lose()

    def _lose(self) -> None:
        if self.sink is not None and not self.lost:
            self.lost = True
            self.sink.connection_lost(None)

    async def wait_closed(self) -> None:
        return None

    def frames(self) -> list[tuple[Opcode, bytes]]:
        """Every frame written so far, unmasked (client frames are masked, RFC 6455 §5.3)."""
        out: list[tuple[Opcode, bytes]] = []
        data = b"".join(self.written)
        while data:
            n = data[1] & 0x7F
            header = 2 + {126: 2, 127: 8}.get(n, 0)
            if n == 126:
                n = int.from_bytes(data[2:4], "big")
            elif n == 127:
                n = int.from_bytes(data[2:10], "big")
            size = header + 4 + n
            first, _, payload = parse_client_frame(data[:size])
            out.append((Opcode(first & 0x0F), payload))
            data = data[size:]
        return out

    def close_codes(self) -> list[int]:
        return [
            int.from_bytes(payload[:2], "big")
            for opcode, payload in self.frames()
            if opcode is Opcode.CLOSE
        ]


# ------------------------------------------------------------------ session


class Recorder(EventListener):
    """Records every ``websocket_*`` event with its arguments."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def ends(self) -> list[str]:
        return [n for n in self.names() if n in ("websocket_closed", "websocket_failed")]


def _recording(name: str) -> Callable[..., None]:
    def record(self: Recorder, *args: Any) -> None:
        self.events.append((name, args))

    return record


for _name in list(vars(EventListener)):
    if _name.startswith("websocket_"):
        setattr(Recorder, _name, _recording(_name))


@dataclass
class Harness:
    session: Session
    channel: FakeChannel
    runtime: FakeRuntime
    recorder: Recorder

    def feed(self, *frames: bytes) -> None:
        self.session.data_received(b"".join(frames))


def harness(conn: Any = None, **options: Any) -> Harness:
    """A session on the native engine (or ``conn``), a fake channel and runtime; no network."""
    opts = WebSocketOptions(**{"ping_interval": None, "close_timeout": 5.0, **options})
    conn = conn or open_engine_connection(
        NativeEngine(),
        EngineSettings(
            max_frame_size=opts.max_frame_size,
            max_message_size=opts.max_message_size,
            subprotocol=None,
            extensions=(),
        ),
    )
    runtime = FakeRuntime()
    recorder = Recorder()
    session = Session(conn, opts, ListenerDispatch(recorder), runtime, "native")  # type: ignore[arg-type]
    channel = FakeChannel()
    session.attach(channel)
    channel.sink = session
    return Harness(session, channel, runtime, recorder)


def server(opcode: int, payload: bytes = b"", *, fin: bool = True) -> bytes:
    """One unmasked server frame."""
    return frame(opcode, payload, fin=fin)


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()
