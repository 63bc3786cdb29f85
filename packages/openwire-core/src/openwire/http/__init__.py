"""The HTTP half of openwire: models, the call chain and its layers."""

from openwire.http.chain import Chain, Interceptor
from openwire.http.cookies import CookieJar, MemoryCookieJar
from openwire.http.followups import Authenticator
from openwire.http.headers import Headers
from openwire.http.models import Request, Response
from openwire.http.url import URL

__all__ = [
    "URL",
    "Authenticator",
    "Chain",
    "CookieJar",
    "Headers",
    "Interceptor",
    "MemoryCookieJar",
    "Request",
    "Response",
]
