"""One backend per async library: the single seam between openwire and an event loop.

Rules of this module:

- Everything that differs between asyncio (uvloop included) and trio sits
  behind :class:`Backend`: the runtime a session runs on, opening a TCP
  connection, and turning a connection handed over after a ``101`` into a
  channel. Nothing above :mod:`openwire.io` asks which loop is running.
- The backend is chosen once per call with :func:`current_backend`
  (sniffio), and the two backends are stateless singletons, so choosing
  costs a dictionary lookup.
- A connection crosses from HTTP to the WebSocket as a
  :class:`~openwire.io.handover.Detached` value. The session never sees it;
  only the backend looks inside its stream, to find the fastest way to
  carry it (on asyncio the transport itself). Any other byte stream (an
  HTTP/2 stream, a test's fake) still works, through reader and writer
  tasks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

import sniffio

from openwire.errors import EngineUnavailable

if TYPE_CHECKING:
    import httpcore

    from openwire.io.channel import Channel, ChannelSink
    from openwire.io.handover import Detached
    from openwire.io.runtime import Runtime

__all__ = ["Backend", "current_backend"]


class Backend(Protocol):
    """What one async library provides to openwire."""

    name: str
    """``"asyncio"`` or ``"trio"``: the names engines list in ``capabilities.backends``."""

    def runtime(self) -> Runtime:
        """A runtime for one WebSocket session (its detached tasks are tracked per session)."""
        ...

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to one resolved address; raise httpcore's connect errors, as a pool expects."""
        ...

    def open_channel(
        self,
        sink: ChannelSink,
        detached: Detached,
        runtime: Runtime,
        *,
        max_messages: int,
        max_bytes: int,
    ) -> Channel:
        """The fastest channel that can carry ``detached``; it owns the stream from now on.

        ``runtime`` is the one :meth:`runtime` returned for the same session.
        """
        ...


_BACKENDS: dict[str, Backend] = {}


def current_backend() -> Backend:
    """The backend of the async library running the current task.

    Raises :class:`~openwire.errors.EngineUnavailable` on anything but asyncio
    (uvloop included) and trio.
    """
    name = sniffio.current_async_library()
    backend = _BACKENDS.get(name)
    if backend is not None:
        return backend
    if name == "asyncio":
        from openwire.io.asyncio_backend import AsyncioBackend

        backend = AsyncioBackend()
    elif name == "trio":
        from openwire.io.trio_backend import TrioBackend

        backend = TrioBackend()
    else:
        raise EngineUnavailable(
            f"openwire WebSockets run on asyncio (or uvloop) or trio; the current async "
            f"library is {name!r}. Run the client under one of those"
        )
    _BACKENDS[name] = backend
    return backend
