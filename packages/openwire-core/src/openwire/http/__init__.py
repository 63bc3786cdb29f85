"""The HTTP half of openwire: models, the call chain and its layers."""

from openwire.http.auth import BasicAuth
from openwire.http.chain import Chain
from openwire.http.cookies import MemoryCookieJar
from openwire.http.headers import Headers
from openwire.http.models import Request, Response
from openwire.http.url import URL
from openwire.interfaces import Authenticator, CookieJar, Interceptor

__all__ = [
    "URL",
    "Authenticator",
    "BasicAuth",
    "Chain",
    "CookieJar",
    "Headers",
    "Interceptor",
    "MemoryCookieJar",
    "Request",
    "Response",
]
