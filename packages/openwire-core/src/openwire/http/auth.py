"""Basic credentials for one request (``auth=``) or for a client's 401s (``authenticator=``).

``client.get(url, auth=("user", "password"))`` sends ``Authorization: Basic
...`` with the request itself, as httpx and requests do: no round trip to
collect a 401 first. The header is an ordinary credential header, so the
follow-ups' one rule applies (:class:`~openwire.http.followups.CredentialGuard`):
it stays on redirect hops within the origin of the first request and is
dropped, for good, by the first hop that leaves it.

A :class:`BasicAuth` is also an :class:`~openwire.Authenticator`:
``Client(authenticator=BasicAuth("user", "password"))`` answers a server's
401 with the credentials, once, instead of sending them up front (for
servers whose clients should not volunteer credentials).
"""

from __future__ import annotations

import base64
from urllib.parse import unquote

from openwire.http.models import Request, Response
from openwire.http.url import URL

__all__ = ["BasicAuth", "basic_auth", "userinfo_credentials"]


def basic_auth(username: str, password: str) -> str:
    """The ``Authorization`` value for ``username``/``password`` (RFC 7617, UTF-8)."""
    if ":" in username:
        raise ValueError(
            "a Basic user name must not contain ':' (RFC 7617 §2): the server would split "
            "it there; check the user name"
        )
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class BasicAuth:
    """User name and password for HTTP Basic authentication (RFC 7617).

    Pass it as ``auth=`` (or a ``(username, password)`` tuple) to send it
    with a request, or as ``Client(authenticator=...)`` to answer 401s. The
    password is kept out of ``repr()``.
    """

    __slots__ = ("header", "username")

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.header = basic_auth(username, password)

    def apply(self, request: Request) -> Request:
        """``request`` carrying these credentials (a copy; ``Authorization`` replaced)."""
        headers = request.headers.copy()
        headers["Authorization"] = self.header
        return request.replace(headers=headers)

    async def __call__(self, response: Response) -> Request | None:
        """Answer a 401: the request again with these credentials, unless it already had them."""
        request = response.request
        if request is None or request.headers.get("authorization") == self.header:
            return None  # the server refused these very credentials: asking again won't help
        return self.apply(request)

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, '***')"


def userinfo_credentials(url: URL, wanted: bool = True) -> tuple[URL, BasicAuth | None]:
    """``url`` without ``user:password@``, and those credentials as Basic auth.

    ``https://user:pass@host/`` means "log in as user" to curl, requests,
    httpx and browsers: the credentials go as ``Authorization: Basic``
    (percent-decoded), never on the wire in the URL, and the URL the call
    carries from then on (in errors, events, logs) has none. With
    ``wanted=False`` (other credentials were given) they are only removed.
    """
    if url.username is None:
        return url, None
    if not wanted:
        return url.without_userinfo(), None
    return url.without_userinfo(), BasicAuth(unquote(url.username), unquote(url.password or ""))
