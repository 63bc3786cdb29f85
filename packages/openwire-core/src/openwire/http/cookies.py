"""Cookie storage: a two-method interface and an in-memory default.

Cookies are off unless a jar is configured (``Client(cookie_jar=...)``):
silently storing state across calls surprises API clients more often than
it helps them. The default jar delegates every policy decision (domain and
path matching, expiry, ``Secure``) to :mod:`http.cookiejar` rather than
re-implementing RFC 6265.
"""

from __future__ import annotations

import email.message
import http.cookiejar
import urllib.request
from collections.abc import Iterator

from openwire.http.models import Request, Response
from openwire.interfaces import CookieJar

__all__ = ["CookieJar", "MemoryCookieJar"]


class _InfoResponse:
    """The one method :meth:`http.cookiejar.CookieJar.extract_cookies` calls."""

    def __init__(self, response: Response) -> None:
        self._message = email.message.Message()
        for value in response.headers.get_list("set-cookie"):
            self._message["Set-Cookie"] = value

    def info(self) -> email.message.Message:
        return self._message


class MemoryCookieJar:
    """Cookies kept in memory for the client's lifetime, per RFC 6265 via ``http.cookiejar``.

    The default policy is the standard library's with one rule made strict: a
    cookie set without a ``Domain`` attribute goes back to the exact host
    that set it, never to its subdomains (RFC 6265 §5.3 step 6, "host-only";
    the library's own default would send it to them). Pass ``policy`` to
    choose otherwise.
    """

    def __init__(self, policy: http.cookiejar.CookiePolicy | None = None) -> None:
        if policy is None:
            policy = http.cookiejar.DefaultCookiePolicy(
                strict_ns_domain=http.cookiejar.DefaultCookiePolicy.DomainStrictNonDomain
            )
        self.jar = http.cookiejar.CookieJar(policy)

    @staticmethod
    def _urllib_request(request: Request) -> urllib.request.Request:
        # The jar's Secure rule reads the scheme: wss is https on the wire.
        url = request.url
        if url.scheme != url.wire_scheme:
            url = url.with_scheme(url.wire_scheme)
        return urllib.request.Request(str(url), method=request.method)

    def cookie_header(self, request: Request) -> str | None:
        """The ``Cookie`` header value the jar holds for ``request``, or ``None``."""
        proxy = self._urllib_request(request)
        self.jar.add_cookie_header(proxy)
        return proxy.get_header("Cookie")

    def save(self, request: Request, response: Response) -> None:
        """Store the cookies ``response`` sets, by the jar's policy (``http.cookiejar``)."""
        if "set-cookie" in response.headers:
            self.jar.extract_cookies(_InfoResponse(response), self._urllib_request(request))  # type: ignore[arg-type]

    def clear(self) -> None:
        """Forget every cookie."""
        self.jar.clear()

    def __iter__(self) -> Iterator[http.cookiejar.Cookie]:
        return iter(self.jar)

    def __len__(self) -> int:
        return len(self.jar)
