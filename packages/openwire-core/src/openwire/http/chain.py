"""Interceptors and the chain that runs them (OkHttp's model).

Every layer of a call, built-in or user-supplied, is an interceptor: it gets
the request and a :class:`Chain`, and returns a response, usually by calling
``await chain.proceed(request)``. That one shape lets users rewrite requests,
short-circuit with their own response, or inspect and replace responses, at
either the application level (once per call) or the network level (once per
attempt).
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TypeAlias

import anyio

from openwire.errors import CallTimeout, OpenWireError
from openwire.events import ListenerDispatch
from openwire.http.models import Request, Response

__all__ = ["CallContext", "Chain", "Layer", "call_deadline"]

Layer: TypeAlias = "Callable[[Request, Chain], Awaitable[Response]]"
"""One layer of the chain: :class:`openwire.interfaces.Interceptor`'s shape, named
here without importing it, because that module names :class:`Chain`."""


@dataclass(slots=True)
class CallContext:
    """Per-call state every layer may need: the listener and the call deadline.

    ``deadline`` is on the ``anyio.current_time()`` clock, ``None`` for no
    whole-call timeout.

    ``enclosing_deadline`` is a deadline the code running the chain enforces
    around all of it with a timer of its own (a WebSocket handshake's
    ``handshake_timeout``), as a ``time.monotonic()`` reading taken after
    that timer was armed; ``None`` when there is none. A step whose own
    timeout could only expire at or after it needs no timer: the enclosing
    one fires first and says what happened. The upgrade connector skips
    those timers; it is a saving, never a different outcome.
    """

    events: ListenerDispatch
    deadline: float | None = None
    enclosing_deadline: float | None = None


class Chain:
    """The rest of the call, from one interceptor's point of view."""

    __slots__ = ("_context", "_index", "_interceptors")

    def __init__(self, interceptors: Sequence[Layer], context: CallContext, index: int = 0) -> None:
        self._interceptors = interceptors
        self._context = context
        self._index = index

    @property
    def events(self) -> ListenerDispatch:
        """This call's listener, for interceptors that report their own steps."""
        return self._context.events

    @property
    def context(self) -> CallContext:
        """This call's shared state: its listener and its whole-call deadline."""
        return self._context

    async def proceed(self, request: Request) -> Response:
        """Hand ``request`` to the next layer and return its response."""
        if self._index >= len(self._interceptors):
            raise RuntimeError("chain.proceed() called past the transport")
        nxt = Chain(self._interceptors, self._context, self._index + 1)
        response = await self._interceptors[self._index](request, nxt)
        if response.request is None:
            response.request = request
        return response


def call_deadline(deadline: float | None, request: Request) -> AbstractContextManager[None]:
    """Enforce the whole-call deadline around one step, raising CallTimeout.

    Without a deadline (the default: ``Timeouts.call`` is ``None``) it is a
    shared no-op context, not a generator's: every call enters it twice.
    """
    if deadline is None:
        return _NO_DEADLINE
    return _deadline(deadline, request)


_NO_DEADLINE: AbstractContextManager[None] = nullcontext()


@contextmanager
def _deadline(deadline: float, request: Request) -> Iterator[None]:
    try:
        with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
            yield
    except builtins.TimeoutError as exc:
        if isinstance(exc, OpenWireError):
            raise  # a timeout of one step (connect, read, ...), already typed
        raise CallTimeout(
            f"{request.method} {request.url} did not finish within Timeouts.call; "
            "raise it, or stream the body without a whole-call deadline",
            request=request,
        ) from None
