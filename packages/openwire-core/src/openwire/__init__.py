"""openwire: an async HTTP and WebSocket client for asyncio and trio."""

from openwire._version import __version__
from openwire.client import Client
from openwire.config import ClientConfig, Limits, Timeouts
from openwire.errors import (
    CallTimeout,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    HTTPProtocolError,
    OpenWireError,
    PoolTimeout,
    ProxyError,
    ReadError,
    ReadTimeout,
    RedirectRefused,
    RequestError,
    TimeoutError,
    TLSError,
    TooManyRedirects,
    WriteError,
    WriteTimeout,
)
from openwire.events import EventListener, ListenerDispatch, LoggingEventListener
from openwire.http.chain import Chain, Interceptor
from openwire.http.cookies import CookieJar, MemoryCookieJar
from openwire.http.followups import Authenticator
from openwire.http.headers import Headers
from openwire.http.models import Request, Response
from openwire.http.url import URL

__all__ = [
    "URL",
    "Authenticator",
    "CallTimeout",
    "Chain",
    "Client",
    "ClientConfig",
    "ConnectError",
    "ConnectTimeout",
    "CookieJar",
    "DecodingError",
    "EventListener",
    "HTTPProtocolError",
    "Headers",
    "Interceptor",
    "Limits",
    "ListenerDispatch",
    "LoggingEventListener",
    "MemoryCookieJar",
    "OpenWireError",
    "PoolTimeout",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RedirectRefused",
    "Request",
    "RequestError",
    "Response",
    "TLSError",
    "TimeoutError",
    "Timeouts",
    "TooManyRedirects",
    "WriteError",
    "WriteTimeout",
    "__version__",
]
