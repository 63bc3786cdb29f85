"""The protocols an application implements to plug into a client.

Everything here is a shape, not a behaviour: an interceptor, an
authenticator, a cookie jar, a listener factory. They live in one module
that imports only the value types they mention (``Request``, ``Response``,
``Chain``, ``EventListener``), so the configuration and every layer of the
call chain can name them without importing each other.

The public names stay where they have always been importable from:
``openwire.Interceptor``, ``openwire.Authenticator``, ``openwire.CookieJar``,
and the same in ``openwire.http``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

from openwire.events import EventListenerFactory

if TYPE_CHECKING:
    from openwire.http.chain import Chain
    from openwire.http.models import Request, Response

__all__ = ["Authenticator", "CookieJar", "EventListenerFactory", "Interceptor"]


class Interceptor(Protocol):
    """``async def interceptor(request, chain) -> Response``.

    Call ``await chain.proceed(request)`` to hand the request on, or return a
    response of your own without calling it. Application interceptors
    (``Client(interceptors=...)``) see each call once; network interceptors
    (``network_interceptors=``) see every attempt, each redirect hop included.
    """

    async def __call__(self, request: Request, chain: Chain, /) -> Response: ...


Authenticator: TypeAlias = "Callable[[Response], Awaitable[Request | None]]"
"""``async (response) -> Request | None``: the retry for a 401 (or a 407), or None to give up."""


@runtime_checkable
class CookieJar(Protocol):
    """What the bridge asks of a jar, once per network attempt."""

    def cookie_header(self, request: Request) -> str | None:
        """The ``Cookie`` header value to send with ``request``, if any."""
        ...

    def save(self, request: Request, response: Response) -> None:
        """Store the ``Set-Cookie`` fields ``response`` carries."""
        ...
