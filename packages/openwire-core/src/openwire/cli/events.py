"""``--events``: the EventListener lifecycle printed as it happens.

Seeing DNS, connect, TLS, the handshake and every frame event in order is
the quickest way to tell where a connection is slow or why it failed, and it
shows users what their own listeners will receive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openwire.cli.output import Output
from openwire.events import EVENT_NAMES, EventListener
from openwire.http.models import Request, Response

__all__ = ["PrintingEventListener", "describe"]


def describe(value: Any) -> str:
    """A short human form of an event argument (requests and responses by their heads)."""
    if isinstance(value, Request):
        return f"{value.method} {value.url}"
    if isinstance(value, Response):
        return f"{value.status} {value.reason}"
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, bytes):
        text = value.hex()
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


class PrintingEventListener(EventListener):
    """Prints every event on stderr; one instance per call, as the client asks."""

    def __init__(self, output: Output) -> None:
        self._output = output


def _printer(name: str) -> Callable[..., None]:
    def print_event(self: PrintingEventListener, *args: Any) -> None:
        self._output.event(name, " ".join(describe(a) for a in args))

    print_event.__name__ = name
    return print_event


for _name in EVENT_NAMES:
    setattr(PrintingEventListener, _name, _printer(_name))
del _name
