"""Reconnecting as a policy: ``async for ws in client.websocket_reconnecting(url)``.

Each iteration yields an open :class:`~openwire.websocket.connection.WebSocket`.
When the loop body is done with it (it finished, or caught
:class:`~openwire.errors.ConnectionClosed` and ``continue``-d), the loop
looks at how that connection ended and decides, by the rules of one
:class:`ReconnectPolicy`: wait and connect again, end quietly, or raise.

Why a policy object and not a callback per decision: the decisions that
matter (which failures are transient, how long to wait, when to stop) are
the same for almost every application, and getting them wrong is how
clients take a recovering server down again (every client retrying at once,
or forever on a 401). The defaults encode the safe answers; the fields move
the numbers; a subclass may override :meth:`ReconnectPolicy.retries_error`
or :meth:`ReconnectPolicy.retries_close` for a server with its own rules.

The loop is a plain async iterator (not an async generator), so leaving it
with ``break`` or an exception needs no event-loop hook: dropping the
iterator closes the connection it yielded last (1001, in the background, as
dropping a WebSocket does). ``async with`` around the loop closes it with
1000 and waits, for code that must know the socket is gone.
"""

from __future__ import annotations

import contextlib
import email.utils
import random as _random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from types import TracebackType
from typing import TYPE_CHECKING

import anyio

from openwire.errors import (
    AuthenticationFailed,
    ConnectError,
    ConnectionClosed,
    HandshakeError,
    PongTimeout,
    ProxyAuthError,
    ProxyError,
    ReadError,
    ReconnectGaveUp,
    TimeoutError,
    TLSError,
    UnexpectedStatus,
    WriteError,
    WriteStalled,
)
from openwire.events import ListenerDispatch
from openwire.protocol.frames import CloseCode
from openwire.websocket.connection import WebSocket
from openwire.websocket.session import State

if TYPE_CHECKING:
    from openwire.websocket.call import WebSocketCall

__all__ = ["RETRY_CODES", "OnConnect", "ReconnectPolicy", "ReconnectingWebSocket", "retry_after"]

RETRY_CODES: frozenset[int] = frozenset({1001, 1006, 1011, 1012, 1013, 1014})
"""Close codes worth reconnecting after, by default.

1001 going away (a server shutting down or a proxy recycling), 1006 the
connection dropped, 1011 the server (or our heartbeat) failed, 1012 service
restart, 1013 try again later, 1014 bad gateway: each says the server or the
path to it had a problem that a new connection may not have. The others say
the conversation itself is wrong (1002 protocol error, 1003 unacceptable
data, 1007 invalid payload, 1008 policy violation, 1009 too big, 1010 an
extension was missing, 1015 TLS failed): the same client would get the same
answer again.
"""

_QUIET_CODES = frozenset({CloseCode.NORMAL_CLOSURE, CloseCode.NO_STATUS_RCVD})

OnConnect = Callable[[WebSocket], Awaitable[object]]
"""``async def on_connect(ws)``: runs on each new connection before it is yielded."""


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """When and how fast a reconnecting loop connects again.

    base_delay, max_delay
        Exponential backoff with full jitter (AWS, "Exponential Backoff And
        Jitter"): the wait before retry number *n* is
        ``random() * min(max_delay, base_delay * 2 ** (n - 1))``. Defaults 1 s
        and 30 s. websockets' ``connect`` iterator waits ``random() * 5`` s
        first (RFC 6455 §7.2.3 suggests 0 to 5 s), then 3.1 s growing by
        1.618 up to 90 s, without jitter after the first wait. A 1 s first
        window makes a blip cost half a second on average; full jitter on
        every wait, not only the first, is what keeps a fleet of clients from
        retrying in step after a server restart (raise ``base_delay`` for a
        very large fleet, as the RFC suggests); 30 s bounds how stale a
        client can be once a long outage ends, at an average of 15 s between
        tries.
    stable_after
        A connection that stayed open this long resets the backoff: the
        next failure waits as a first one. Default 10 s. websockets resets as
        soon as a handshake succeeds, so a server that accepts and drops at
        once gets reconnected to at full speed; here such connections count
        as failed attempts and the waits keep growing.
    max_retries
        Retries in a row (no stable connection between them) before giving
        up with :class:`~openwire.errors.ReconnectGaveUp`. ``None`` (the
        default) never gives up: a long-running client should outlive any
        outage.
    max_elapsed
        Seconds since the loop lost its last stable connection (or started)
        after which no retry starts; the last wait is shortened to end at
        that deadline. ``None`` (the default): no limit.
    retry_codes
        Close codes after which the loop reconnects; default
        :data:`RETRY_CODES` (1001, 1006, 1011, 1012, 1013, 1014). Add 1000
        or application codes (3000–4999) for a server that closes normally
        to make clients come back.
    random
        A float in [0, 1) per call: :func:`random.random` by default; pass
        ``random.Random(seed).random`` for a reproducible sequence.

    Delays are seconds as floats; tests can use milliseconds
    (``base_delay=0.001``).
    """

    base_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 10.0
    max_retries: int | None = None
    max_elapsed: float | None = None
    retry_codes: frozenset[int] = RETRY_CODES
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("base_delay", "max_delay", "stable_after"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if self.max_delay < self.base_delay:
            raise ValueError(
                f"max_delay ({self.max_delay}) must not be below base_delay ({self.base_delay})"
            )
        if self.max_retries is not None and self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0 or None, got {self.max_retries}")
        if self.max_elapsed is not None and not self.max_elapsed > 0:
            raise ValueError(f"max_elapsed must be > 0 seconds or None, got {self.max_elapsed}")
        object.__setattr__(self, "retry_codes", frozenset(self.retry_codes))

    def backoff(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1 for the first): full jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        return self.random() * ceiling

    def retries_error(self, error: BaseException) -> bool:
        """Whether a failed connection attempt is worth retrying.

        Yes for what the network or a struggling server causes: connect
        errors (DNS included), resets, timeouts (``HandshakeTimeout``
        included), a proxy that failed the tunnel, TLS that broke off, and
        a 5xx or 429 answer to the handshake. No for what the same request
        would meet again: 401/403/407 (:class:`~openwire.errors.AuthenticationFailed`),
        any other 3xx/4xx, a server that does not speak WebSocket, a
        certificate that failed verification (a wrong trust store or an
        attack; retrying would hide it), and every error of the
        application's own (a bad option, an engine that is not installed).
        """
        if isinstance(error, AuthenticationFailed | ProxyAuthError):
            return False
        if isinstance(error, UnexpectedStatus):
            return error.status == 429 or 500 <= error.status <= 599
        if isinstance(error, HandshakeError):
            return False
        if isinstance(error, TLSError):
            return not _certificate_refused(error)
        return isinstance(error, ConnectError | ReadError | WriteError | TimeoutError | ProxyError)

    def retries_close(self, error: ConnectionClosed) -> bool:
        """Whether a connection that ended as ``error`` says is worth reconnecting after.

        A close this side chose (``ws.close(code)``, or 1001 when the last
        sending handle was dropped) is the application's decision, whatever
        its code: never retried. This side's heartbeat failures
        (:class:`~openwire.errors.PongTimeout`, :class:`~openwire.errors.WriteStalled`)
        are the peer's or the network's doing, and count by their code.
        """
        if error.by_peer is False and not isinstance(error, PongTimeout | WriteStalled):
            return False
        return error.code in self.retry_codes


def _certificate_refused(error: BaseException) -> bool:
    """True if an ``ssl.SSLCertVerificationError`` is among the error's causes."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def retry_after(headers: Sequence[tuple[str, str]], now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (RFC 9110 §10.2.3), or ``None``.

    Both forms: delay-seconds (``120``) and an HTTP-date, measured against
    ``now`` (``time.time()`` by default); a date in the past is 0. A value
    that is neither is ignored, as if absent.
    """
    value = next((v.strip() for n, v in headers if n.lower() == "retry-after"), None)
    if value is None:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _closed_error(ws: WebSocket) -> ConnectionClosed:
    """What ``receive`` raises on this closed connection (the typed cause: PongTimeout, ...)."""
    error = ws.close_error
    assert error is not None, "asked only once the connection has ended"
    return error


class ReconnectingWebSocket:
    """``async for ws in client.websocket_reconnecting(url)``: a new connection per iteration.

    Built by :meth:`openwire.Client.websocket_reconnecting`; see the user
    guide's "Reconnecting" section for the whole table. In short, after the
    body is done with a connection:

    - left open by the body: the loop closes it with 1000 and ends (the body
      chose to stop, as with ``break``);
    - closed with a code in ``policy.retry_codes``: wait, then connect again;
    - closed with 1000 (or an empty Close, 1005) or an application code
      (3000–4999) not in ``retry_codes``: the loop ends quietly;
    - closed with any other code (1002, 1003, 1007–1010, 1015, ...): the
      loop raises that connection's :class:`~openwire.errors.ConnectionClosedError`.

    A failed connection attempt is retried if ``policy.retries_error`` says
    so, and raised otherwise; the give-up limits raise
    :class:`~openwire.errors.ReconnectGaveUp`.
    """

    __slots__ = ("_loop",)

    def __init__(
        self,
        call: WebSocketCall,
        policy: ReconnectPolicy,
        on_connect: OnConnect | None,
        new_listener: Callable[[], ListenerDispatch],
    ) -> None:
        self._loop = _Loop(call, policy, on_connect, new_listener)

    @property
    def call(self) -> WebSocketCall:
        """The prepared call each attempt executes (URL, options)."""
        return self._loop.call

    @property
    def policy(self) -> ReconnectPolicy:
        """The backoff and give-up rules this loop follows."""
        return self._loop.policy

    @property
    def attempt(self) -> int:
        """Failed attempts in a row so far (0 after a stable connection)."""
        return self._loop.failures

    def __aiter__(self) -> ReconnectingWebSocket:
        return self

    def __anext__(self) -> Awaitable[WebSocket]:
        # Not a coroutine of its own: no frame of this handle is on the stack
        # while connecting, so the tracebacks of retried failures (a listener
        # may keep them as causes) never keep the handle alive after break.
        return self._loop.next()

    async def aclose(self) -> None:
        """End the loop: close the current connection with 1000 and wait until it is closed."""
        await self._loop.aclose(None)

    async def __aenter__(self) -> ReconnectingWebSocket:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._loop.aclose(exc)

    def __del__(self) -> None:
        # Left by break or an exception without ``async with``: nothing can
        # be awaited here, so the connection starts closing in the background.
        loop = getattr(self, "_loop", None)
        if loop is not None:
            loop.abandon()


class _Loop:
    """The loop's state and decisions, apart from the handle the user iterates.

    Kept apart so that what references it (the frames in the tracebacks of
    the failures it retried, which a listener may keep as causes, reach it
    and their callers) never keeps the user's handle alive: dropping that
    handle is what closes the last connection after ``break``.
    """

    def __init__(
        self,
        call: WebSocketCall,
        policy: ReconnectPolicy,
        on_connect: OnConnect | None,
        new_listener: Callable[[], ListenerDispatch],
    ) -> None:
        self.call = call
        self.policy = policy
        self._on_connect = on_connect
        self._new_listener = new_listener
        self._events: ListenerDispatch | None = None
        self._ws: WebSocket | None = None
        self._opened_at = 0.0
        self.failures = 0
        self._lost_at = 0.0
        self._running = False
        self._stopped = False

    async def next(self) -> WebSocket:
        if self._stopped:
            raise StopAsyncIteration
        if self._running:
            raise RuntimeError(
                "another task is already waiting for this loop's next connection; "
                "iterate a reconnecting WebSocket from one task"
            )
        self._running = True
        if self._events is None:
            self._events = self._new_listener()
            self._lost_at = anyio.current_time()
        try:
            previous, self._ws = self._ws, None
            if previous is not None:
                await self._after(previous)
            ws = await self._connect(self._events)
        except BaseException as exc:
            self._stop(None if isinstance(exc, StopAsyncIteration) else exc)
            raise
        finally:
            self._running = False
        self._ws = ws
        return ws

    async def _after(self, ws: WebSocket) -> None:
        """The body is done with ``ws``: return to reconnect (after the wait), or end."""
        if ws.state is State.OPEN:
            # The body left it open: it is done with this connection, so is the loop.
            await ws.close()
            raise StopAsyncIteration
        await ws.close()  # closing may still be under way: wait for its end
        await self._closed(_closed_error(ws))

    async def _closed(self, cause: ConnectionClosed) -> None:
        """A connection ended with ``cause``: wait for the retry, or end the loop."""
        now = anyio.current_time()
        if now - self._opened_at >= self.policy.stable_after:
            self.failures = 0
            self._lost_at = now
        code = cause.code
        if self.policy.retries_close(cause):
            await self._wait(cause, None)
            return
        if code in _QUIET_CODES or 3000 <= code <= 4999:
            raise StopAsyncIteration
        if code == CloseCode.GOING_AWAY and cause.by_peer is False:
            raise StopAsyncIteration  # this side went away: the loop's work is done
        raise cause

    async def _connect(self, events: ListenerDispatch) -> WebSocket:
        while True:
            try:
                ws = await self.call.execute()
            except Exception as exc:
                if not self.policy.retries_error(exc):
                    raise
                delay = None
                if isinstance(exc, UnexpectedStatus):
                    delay = retry_after(exc.headers)
                await self._wait(exc, delay)
                continue
            self._opened_at = anyio.current_time()
            if self._on_connect is not None:
                try:
                    await self._on_connect(ws)
                except ConnectionClosed:
                    if ws.state is State.OPEN:  # not this connection's end: the hook's bug
                        await _close_after_failure(ws)
                        raise
                    await ws.close()
                    await self._closed(_closed_error(ws))
                    continue
                except Exception:
                    await _close_after_failure(ws)
                    raise
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await ws.close()
                    raise
            events.websocket_reconnect_connected(self.failures)
            return ws

    async def _wait(self, cause: BaseException, asked: float | None) -> None:
        """Count a failure, check the give-up limits, announce the retry and sleep."""
        policy = self.policy
        self.failures += 1
        now = anyio.current_time()
        elapsed = now - self._lost_at
        if policy.max_retries is not None and self.failures > policy.max_retries:
            raise self._give_up(cause, elapsed, f"max_retries={policy.max_retries}")
        delay = policy.backoff(self.failures) if asked is None else min(asked, policy.max_delay)
        if policy.max_elapsed is not None:
            remaining = policy.max_elapsed - elapsed  # the same sum: never a hair apart
            if remaining <= 0:
                raise self._give_up(cause, elapsed, f"max_elapsed={policy.max_elapsed}s")
            delay = min(delay, remaining)
        assert self._events is not None
        self._events.websocket_reconnect_scheduled(self.failures, delay, cause)
        await anyio.sleep(delay)

    def _give_up(self, cause: BaseException, elapsed: float, limit: str) -> ReconnectGaveUp:
        error = ReconnectGaveUp(
            f"gave up reconnecting to {self.call.request.url} after {self.failures} failed "
            f"attempt(s) in a row over {elapsed:.3f}s ({limit}); the last failure was "
            f"{type(cause).__name__}: {cause}. Check the server, or loosen the "
            "ReconnectPolicy limits",
            attempts=self.failures,
            elapsed=elapsed,
            cause=cause,
        )
        error.__cause__ = cause
        return error

    def _stop(self, error: BaseException | None) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._events is not None:
            self._events.websocket_reconnect_stopped(error)

    # -- ending --------------------------------------------------------------
    async def aclose(self, error: BaseException | None) -> None:
        self._stop(error)
        ws, self._ws = self._ws, None
        if ws is not None:
            with anyio.CancelScope(shield=True):
                await ws.close()

    def abandon(self) -> None:
        """The loop was dropped: close the last connection (1001) on the event loop's next turn."""
        ws, self._ws = self._ws, None
        if ws is not None and ws.state is State.OPEN:
            with contextlib.suppress(Exception):
                ws._session.abandon_soon()
        self._stop(None)


async def _close_after_failure(ws: WebSocket) -> None:
    """The hook failed: tell the server (1011, internal error) and release the socket."""
    with contextlib.suppress(Exception):
        await ws.close(CloseCode.INTERNAL_ERROR, "")
