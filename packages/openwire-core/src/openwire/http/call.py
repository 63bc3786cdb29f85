"""Running one call through a client's chain, with its call events.

Every call, HTTP or WebSocket, is a run of the same chain (application
interceptors → follow-ups → bridge → network interceptors → transport) between
``call_start`` and exactly one of ``call_end`` / ``call_failed``. What differs
is *when the call ends*: an HTTP call ends when its response body is read to
the end, fails, or is closed; a WebSocket call ends when the opening handshake
is validated or fails, long before the connection closes. So the runner fires
``call_start`` and leaves the end to the caller, who says it with
:meth:`Call.end` or :meth:`Call.end_with_body`; a caller that wraps the chain
in its own deadline can report its own error (``HandshakeTimeout``) rather
than the cancellation the chain saw.

Use it through :meth:`openwire.Client.start_call`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio

from openwire.events import EventListener, EventListenerFactory, ListenerDispatch
from openwire.http.chain import CallContext, Chain, Layer, call_deadline
from openwire.http.models import Request, Response

__all__ = ["Call", "CallRunner"]

_log = logging.getLogger("openwire.client")


class Call:
    """One call in flight: its request, its listener, and its end, reported once.

    Made by :meth:`CallRunner.start` (``call_start`` has fired). Run the chain
    with :meth:`send`, then end the call on every path: :meth:`end` when the
    caller's own rule says the call is over (with the error if it failed,
    :meth:`send`'s included), or :meth:`end_with_body` to end it with the
    response body. Only the first end counts, so ``call_end`` or
    ``call_failed`` fires exactly once.
    """

    __slots__ = ("_context", "_ended", "_layers", "events", "request")

    def __init__(self, request: Request, layers: Sequence[Layer], context: CallContext) -> None:
        self.request = request
        self.events = context.events
        self._layers = layers
        self._context = context
        self._ended = False

    async def send(self) -> Response:
        """Run :attr:`request` through the chain; the response body is left unread.

        Raises what the chain raises (the :class:`~openwire.RequestError`
        subclasses) and :class:`~openwire.CallTimeout` past ``Timeouts.call``;
        the call is not ended by it: pass the error to :meth:`end`. Safe to
        cancel: the transport releases the connection of an unfinished attempt.
        """
        request = self.request
        with call_deadline(self._context.deadline, request):
            return await Chain(self._layers, self._context).proceed(request)

    def enclose(self, deadline: float | None) -> None:
        """Say that the caller bounds :meth:`send` by ``deadline`` with a timer of its own.

        ``deadline`` is a ``time.monotonic()`` reading taken after that timer
        was armed (see :attr:`CallContext.enclosing_deadline`): steps of the
        chain whose own timeouts could only expire later arm none.
        """
        self._context.enclosing_deadline = deadline

    def end(self, error: BaseException | None = None) -> None:
        """End the call: ``call_end`` when ``error`` is None, else ``call_failed``.

        Only the first end counts, so a cleanup path may call it again safely.
        """
        if self._ended:
            return
        self._ended = True
        if error is None:
            self.events.call_end(self.request)
        else:
            self.events.call_failed(self.request, error)

    def end_with_body(self, response: Response) -> Response:
        """End the call when ``response``'s body ends: read through, failed, or closed.

        A response garbage-collected unclosed ends it too. Returns ``response``.
        """
        response.on_close(self.end)
        return response


class CallRunner:
    """Starts calls through one chain of layers, each with a fresh listener.

    ``listener_factory`` is called once per call (a factory that raises costs
    that call its events, not the call); ``call_timeout`` is the whole-call
    deadline in seconds, ``None`` for none.
    """

    __slots__ = ("_call_timeout", "_factory", "_layers")

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        call_timeout: float | None = None,
        listener_factory: EventListenerFactory | None = None,
    ) -> None:
        self._layers = tuple(layers)
        self._call_timeout = call_timeout
        self._factory = listener_factory

    def new_listener(self) -> ListenerDispatch:
        """A fresh per-call dispatch from the listener factory."""
        listener: EventListener | None = None
        if self._factory is not None:
            try:
                listener = self._factory()
            except Exception:
                _log.exception("event_listener_factory raised; this call has no listener")
        return ListenerDispatch(listener)

    def start(self, request: Request) -> Call:
        """Start a call to ``request``: a new listener, ``call_start``, the deadline set.

        The whole-call deadline (``request.timeouts.call`` when the request
        carries its own timeouts) starts now and covers :meth:`Call.send`; the
        caller bounds what it does after the chain (the HTTP body stream
        carries the deadline with it).
        """
        events = self.new_listener()
        limit = self._call_timeout if request.timeouts is None else request.timeouts.call
        deadline = None if limit is None else anyio.current_time() + limit
        events.call_start(request)
        return Call(request, self._layers, CallContext(events=events, deadline=deadline))
