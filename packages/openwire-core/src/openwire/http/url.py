"""URLs as the call stack needs them: parsed once, compared by origin.

A URL keeps the scheme the caller wrote, ``ws``/``wss`` included, so errors,
events and interceptors show what the application asked for. What goes on
the wire is :attr:`URL.wire_scheme`: ``ws`` is ``http`` and ``wss`` is
``https`` (RFC 6455 §3), the one mapping every layer that dials, picks a
proxy, or compares origins reads.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlencode, urljoin, urlsplit

import idna

__all__ = ["URL"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# RFC 3986 §3.2.2: a reg-name (unreserved, sub-delims, pct-encoded) or an IP
# literal (urlsplit strips the brackets: hex digits, colons, dots, a zone id).
_HOST = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]+|[0-9A-Fa-f:.]+(%[A-Za-z0-9\-._~]+)?")
WIRE_SCHEMES = {"ws": "http", "wss": "https"}
"""The WebSocket schemes and the HTTP scheme each is sent as (RFC 6455 §3)."""


class URL:
    """An absolute URL.

    ``target`` is a ``str`` (path plus ``?query``, never empty: ``"/"`` at
    least) because that is what goes on the request line; the fragment is
    dropped since it is never sent.
    """

    __slots__ = ("_port", "host", "password", "path", "query", "scheme", "username")

    def __init__(self, url: str | URL) -> None:
        if isinstance(url, URL):
            url = str(url)
        (
            self.scheme,
            self.host,
            self._port,
            self.username,
            self.password,
            self.path,
            self.query,
        ) = _parse(url) if _cacheable(url) else _parse.__wrapped__(url)

    @property
    def port(self) -> int:
        """The explicit port, else the scheme's default."""
        if self._port is not None:
            return self._port
        try:
            return DEFAULT_PORTS[self.scheme]
        except KeyError:
            raise ValueError(f"no default port for scheme {self.scheme!r}") from None

    @property
    def explicit_port(self) -> int | None:
        """The port written in the URL, ``None`` when it was left to the scheme."""
        return self._port

    @property
    def target(self) -> str:
        """The request-target: path plus ``?query``, as sent on the request line."""
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def wire_scheme(self) -> str:
        """The scheme dialled: ``http`` for ``ws``, ``https`` for ``wss``, else :attr:`scheme`."""
        return WIRE_SCHEMES.get(self.scheme, self.scheme)

    @property
    def origin(self) -> tuple[str, str, int]:
        """(wire scheme, host, port): what same-origin checks and pools compare.

        ``ws://h`` and ``http://h`` are one origin: the same server, reached
        the same way.
        """
        return (self.wire_scheme, self.host, self.port)

    def without_userinfo(self) -> URL:
        """This URL without ``user:password@``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self._port is None else f":{self._port}"
        return URL(f"{self.scheme}://{host}{port}{self.target}")

    def with_scheme(self, scheme: str) -> URL:
        """This URL with another scheme (an explicit port is kept, even the old default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self._port is None else f":{self._port}"
        return URL(f"{scheme}://{self._userinfo()}{host}{port}{self.target}")

    @property
    def netloc(self) -> str:
        """Host with brackets for IPv6, and the port only when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self._port is not None and self._port != DEFAULT_PORTS.get(self.scheme):
            return f"{host}:{self._port}"
        return host

    def join(self, location: str) -> URL:
        """Resolve a (possibly relative) ``Location`` against this URL."""
        return URL(urljoin(str(self), location))

    def with_params(self, params: dict[str, str] | list[tuple[str, str]]) -> URL:
        """A copy with ``params`` appended to the query string (URL-encoded), existing ones kept."""
        extra = urlencode(params)
        query = f"{self.query}&{extra}" if self.query else extra
        return URL(f"{self.scheme}://{self._userinfo()}{self.netloc}{self.path}?{query}")

    def _userinfo(self) -> str:
        if self.username is None:
            return ""
        if self.password is None:
            return f"{self.username}@"
        return f"{self.username}:{self.password}@"

    def __str__(self) -> str:
        return f"{self.scheme}://{self._userinfo()}{self.netloc}{self.target}"

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = URL(other)
        return isinstance(other, URL) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


_Parts = tuple[str, str, int | None, str | None, str | None, str, str]


def _cacheable(url: str) -> bool:
    """No credentials in the cache: a URL with userinfo or a query (tokens) is parsed anew."""
    return "@" not in url and "?" not in url


@functools.lru_cache(maxsize=256)
def _parse(url: str) -> _Parts:
    """(scheme, host, port, username, password, path, query) of ``url``.

    Cached: a client sends most of its requests (and every reconnect) to a
    few URLs, and ``urlsplit`` with its properties costs more than the rest
    of building a request. The parts are immutable strings and numbers.
    URLs that may carry a secret are not cached (see :func:`_cacheable`):
    it must not outlive the request that carried it.
    """
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        raise ValueError(
            f"{url!r} is not an absolute URL; pass scheme and host, e.g. 'https://example.com/'"
        )
    host = parts.hostname
    if not host:
        raise ValueError(f"{url!r} has no host")
    if not host.isascii():
        host = _ascii_host(host, url)
    if not _HOST.fullmatch(host):
        raise ValueError(
            f"{url!r} has an invalid host {host!r}: a name, an IPv4 address or a bracketed "
            "IPv6 address (RFC 3986 §3.2.2), without spaces"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} has an invalid port: {exc}") from None
    return (
        parts.scheme.lower(),
        host.lower(),
        port,
        parts.username,
        parts.password,
        parts.path or "/",
        parts.query,
    )


def _ascii_host(host: str, url: str) -> str:
    """An internationalised host name in the ASCII form every header and lookup needs.

    ``Host``, ``:authority``, TLS SNI and DNS all carry the A-labels
    (``xn--...``, RFC 9110 §4.2.1, RFC 5890); converting once here means no
    layer can send the Unicode form. IDNA 2008 with the UTS #46 mapping, as
    browsers and httpx do, rather than the standard library's IDNA 2003 codec.
    """
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
        # Only the non-ASCII labels are IDNA's: an ASCII label (``_dmarc``,
        # say) is held to the same rule as in an all-ASCII host (_HOST).
        labels = [
            label if label.isascii() else idna.alabel(label).decode("ascii")
            for label in mapped.split(".")
        ]
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(f"{url!r} has a host name that is not valid IDNA: {exc}") from None
    return ".".join(labels)
