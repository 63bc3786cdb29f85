"""Tunnels through proxies: ``CONNECT`` on an HTTP(S) proxy, and SOCKS5.

Rules:

- Every tunnel, for a plain call or a WebSocket handshake, is opened here,
  so a proxy that refuses credentials fails the same way on every path:
  :class:`~openwire.ProxyAuthError`, with the proxy's ``status`` (HTTP) or
  RFC 1929 ``socks_reply`` (SOCKS5). A proxy that is down or broken stays a
  :class:`~openwire.ConnectError` / :class:`~openwire.ProxyError`.
- ``CONNECT``: the answer's head is read with
  :class:`~openwire.protocol.http11.HeadReader` (the same limits as any head; a
  proxy over them is :class:`~openwire.HeadTooLarge`). A ``407``, or the
  ``401`` some proxies (tinyproxy) send to ``CONNECT``, goes to
  ``proxy_authenticator`` when one is configured: it gets a
  :class:`~openwire.Response` for the proxy's answer, whose ``request`` is
  the ``CONNECT`` that was sent, and returns the request to send next (its
  headers, ``Proxy-Authorization`` among them, go on the next ``CONNECT``)
  or ``None``; at most ``max_auth_attempts`` rounds. Each round opens a
  fresh connection to the proxy: a proxy that refused is not trusted to
  keep its connection usable. Credentials in the proxy URL are sent as
  Basic ``Proxy-Authorization`` from the first ``CONNECT``.
- SOCKS5 (RFC 1928) with user name and password (RFC 1929) from the proxy
  URL, on socksio's public message classes; host names are sent to the
  proxy unresolved (``socks5`` and ``socks5h`` alike, as httpcore does).
- A tunnel is a plain stream to the origin: TLS to the origin, when wanted,
  is started on it by the caller (httpcore for pools, the upgrade connector
  for handshakes).

Plain calls use :class:`TunnelBackend`: an httpcore network backend whose
``connect_tcp`` returns the tunnelled stream, so an ordinary pool (HTTP/1.1
and HTTP/2, TLS, keep-alive) runs on top of our tunnel.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote

import anyio
import httpcore
import socksio

from openwire.config import Timeouts
from openwire.errors import HeadTooLarge, ProxyAuthError
from openwire.http.models import Request, Response
from openwire.http.tls import ALPN_HTTP11
from openwire.http.url import URL
from openwire.protocol.http11 import (
    Head,
    HeadReader,
    HeadRefused,
    InvalidRequestHead,
    serialize_request,
)

__all__ = ["ProxyAuthenticator", "ProxyRoute", "TunnelBackend", "Tunnels", "authority"]

ProxyAuthenticator = Callable[[Response], Awaitable[Request | None]]

_READ_SIZE = 64 * 1024
_SOCKS_SCHEMES = ("socks5", "socks5h")
_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
_AUTH_STATUSES = (401, 407)  # 401: tinyproxy's answer to CONNECT with bad credentials


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """Where a proxy is and how to log in to it, from its URL."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: URL) -> ProxyRoute:
        username = unquote(url.username) if url.username is not None else None
        password = unquote(url.password or "") if url.username is not None else None
        port = url.explicit_port or _DEFAULT_PORTS.get(url.scheme, 80)
        return cls(url.scheme, url.host, port, username, password)

    @property
    def is_socks(self) -> bool:
        return self.scheme in _SOCKS_SCHEMES

    @property
    def address(self) -> str:
        return authority(self.host, self.port)

    def basic_headers(self) -> list[tuple[bytes, bytes]]:
        """``Proxy-Authorization: Basic`` for the credentials in the URL, if any."""
        if self.username is None:
            return []
        token = f"{self.username}:{self.password or ''}".encode()
        return [(b"Proxy-Authorization", b"Basic " + base64.b64encode(token))]


def authority(host: str, port: int) -> str:
    """``host:port`` for a request target: IDNA-encoded, IPv6 in brackets."""
    if ":" in host:
        return f"[{host.strip('[]')}]:{port}"
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    return f"{host}:{port}"


class Tunnels:
    """Opens streams to origins through one proxy.

    ``tls`` gives the context for an ``https://`` proxy; it must offer only
    ``http/1.1`` by ALPN, as ``CONNECT`` is an HTTP/1.1 request.
    """

    def __init__(
        self,
        backend: httpcore.AsyncNetworkBackend,
        route: ProxyRoute,
        tls: Callable[[], ssl.SSLContext],
        timeouts: Timeouts,
        authenticator: ProxyAuthenticator | None = None,
        max_auth_attempts: int = 3,
    ) -> None:
        self.backend = backend
        self.route = route
        self._tls = tls
        self._timeouts = timeouts
        self._authenticator = authenticator
        self._max_auth_attempts = max_auth_attempts

    async def open(self, scheme: str, host: str, port: int) -> httpcore.AsyncNetworkStream:
        """A stream to ``host:port`` through the proxy; ``scheme`` is the origin's."""
        if self.route.is_socks:
            stream = await self._connect_proxy()
            try:
                await _socks5(stream, self.route, host, port, self._timeouts)
            except BaseException:
                await stream.aclose()
                raise
            return stream
        return await self._connect_tunnel(scheme, authority(host, port))

    async def _connect_proxy(self) -> httpcore.AsyncNetworkStream:
        route = self.route
        stream = await self.backend.connect_tcp(route.host, route.port, self._timeouts.connect)
        if route.scheme == "https":
            context = self._tls()
            context.set_alpn_protocols(ALPN_HTTP11)  # CONNECT is HTTP/1.1 (openwire.http.tls)
            try:
                stream = await stream.start_tls(context, route.host, self._timeouts.connect)
            except BaseException:
                await stream.aclose()
                raise
        return stream

    async def _connect_tunnel(self, scheme: str, target: str) -> httpcore.AsyncNetworkStream:
        route = self.route
        headers = [(b"Host", target.encode("ascii")), *route.basic_headers()]
        rounds = 0
        while True:
            stream = await self._connect_proxy()
            try:
                head = await self._send_connect(stream, target, headers)
            except BaseException:
                await stream.aclose()
                raise
            if 200 <= head.status < 300:
                return stream
            await stream.aclose()
            if head.status not in _AUTH_STATUSES:
                reason = head.reason.decode("latin-1")
                raise httpcore.ProxyError(
                    f"the proxy {route.address} answered CONNECT {target} with "
                    f"{head.status} {reason}"
                )
            sent = _connect_request(scheme, target, headers)
            answer = Response(
                head.status,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in head.fields],
                request=sent,
                reason=head.reason.decode("latin-1") or None,
            )
            retry = None
            if self._authenticator is not None and rounds < self._max_auth_attempts:
                rounds += 1
                retry = await self._authenticator(answer)
            if retry is None:
                raise ProxyAuthError(
                    _refusal(route, target, head, sent, self._authenticator, rounds),
                    status=head.status,
                )
            headers = [(b"Host", target.encode("ascii"))] + [
                (k, v) for k, v in retry.headers.raw() if k.lower() != b"host"
            ]

    async def _send_connect(
        self, stream: httpcore.AsyncNetworkStream, target: str, headers: list[tuple[bytes, bytes]]
    ) -> Head:
        route, timeouts = self.route, self._timeouts
        try:
            request = serialize_request(b"CONNECT", target.encode("ascii"), headers)
        except InvalidRequestHead as exc:
            raise httpcore.ProxyError(f"cannot send CONNECT {target}: {exc}") from exc
        await stream.write(request, timeouts.write)
        reader = HeadReader()
        try:
            while True:
                data = await stream.read(_READ_SIZE, timeouts.read)
                if not data:
                    raise httpcore.ProxyError(
                        f"the proxy {route.address} closed the connection instead of "
                        f"answering CONNECT {target}"
                    )
                head = reader.feed(data)
                if head is not None:
                    break
        except HeadRefused as exc:
            if exc.limit is None:
                raise httpcore.ProxyError(
                    f"the proxy {route.address} answered CONNECT {target} with a malformed "
                    f"head: {exc}"
                ) from exc
            raise HeadTooLarge(
                f"the proxy {route.address} broke the HTTP protocol answering CONNECT "
                f"{target}: {exc}; the proxy is broken or hostile, openwire reads no larger heads",
                limit=exc.limit,
                maximum=exc.maximum,
            ) from exc
        except httpcore.ReadError as exc:
            raise httpcore.ProxyError(
                f"the proxy {route.address} broke off CONNECT {target}: {exc}"
            ) from exc
        if reader.rest and 200 <= head.status < 300:
            # Only the origin speaks on a tunnel, and not before the client does.
            raise httpcore.ProxyError(
                f"the proxy {route.address} sent bytes after its answer to CONNECT {target}"
            )
        return head


def _connect_request(scheme: str, target: str, headers: list[tuple[bytes, bytes]]) -> Request:
    """The ``CONNECT`` as a Request, for the authenticator: its URL is the origin's."""
    return Request(
        "CONNECT",
        f"{'https' if scheme == 'https' else 'http'}://{target}/",
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
    )


def _refusal(
    route: ProxyRoute,
    target: str,
    head: Head,
    sent: Request,
    authenticator: ProxyAuthenticator | None,
    rounds: int,
) -> str:
    answer = f"{head.status} {head.reason.decode('latin-1')}".strip()
    if authenticator is not None:
        if rounds:
            why = f"after {rounds} proxy_authenticator round(s)"
        else:
            why = "with max_auth_attempts=0"
        what = f"the proxy {route.address} refused the credentials for CONNECT {target} {why}"
        todo = "check what proxy_authenticator returns, or raise max_auth_attempts"
    elif "proxy-authorization" in sent.headers:
        what = f"the proxy {route.address} refused the credentials for CONNECT {target}"
        todo = "check the user and password in the proxy URL, or set proxy_authenticator"
    else:
        what = f"the proxy {route.address} wants credentials for CONNECT {target}"
        todo = "set proxy_authenticator or put user:password in the proxy URL"
    return f"{what} ({answer}); {todo}"


async def _read_exact(
    stream: httpcore.AsyncNetworkStream, size: int, timeout: float | None
) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await stream.read(size - len(data), timeout)
        if not chunk:
            raise socksio.ProtocolError("the proxy closed the connection mid-reply")
        data += chunk
    return data


async def _socks5(
    stream: httpcore.AsyncNetworkStream,
    route: ProxyRoute,
    host: str,
    port: int,
    timeouts: Timeouts,
) -> None:
    """The RFC 1928 handshake, with RFC 1929 login when the URL has credentials.

    socksio's ``SOCKS5UsernamePasswordReply`` keeps only "success", so the
    two bytes of the RFC 1929 reply are read here to keep its status.
    """
    target = authority(host, port)
    method = (
        socksio.SOCKS5AuthMethod.NO_AUTH_REQUIRED
        if route.username is None
        else socksio.SOCKS5AuthMethod.USERNAME_PASSWORD
    )
    timeout = timeouts.connect
    try:
        with anyio.fail_after(timeout):
            await stream.write(socksio.SOCKS5AuthMethodsRequest([method]).dumps(), timeout)
            chosen = socksio.SOCKS5AuthReply.loads(await _read_exact(stream, 2, None)).method
            if chosen != method:
                if route.username is None:
                    raise ProxyAuthError(
                        f"the SOCKS5 proxy {route.address} wants a user name and password "
                        f"for {target}; put user:password in the proxy URL"
                    )
                raise httpcore.ProxyError(
                    f"the SOCKS5 proxy {route.address} refused user/password login "
                    f"(it chose method {chosen.name}) for {target}"
                )
            if route.username is not None:
                login = socksio.SOCKS5UsernamePasswordRequest(
                    route.username.encode(), (route.password or "").encode()
                )
                await stream.write(login.dumps(), timeout)
                version, status = await _read_exact(stream, 2, None)
                if version != 1:
                    raise socksio.ProtocolError(f"RFC 1929 reply version {version}, expected 1")
                if status != 0:
                    raise ProxyAuthError(
                        f"the SOCKS5 proxy {route.address} refused the user and password for "
                        f"{target} (RFC 1929 status {status}); check the credentials in the "
                        "proxy URL",
                        socks_reply=status,
                    )
            address = host.strip("[]")
            if not address.isascii():
                address = address.encode("idna").decode("ascii")
            command = socksio.SOCKS5CommandRequest.from_address(
                socksio.SOCKS5Command.CONNECT, (address, port)
            )
            await stream.write(command.dumps(), timeout)
            reply = await _read_socks_reply(stream)
            code = socksio.SOCKS5Reply.loads(reply).reply_code
            if code != socksio.SOCKS5ReplyCode.SUCCEEDED:
                raise httpcore.ProxyError(
                    f"the SOCKS5 proxy {route.address} could not connect to {target}: "
                    f"{code.name.lower().replace('_', ' ')}"
                )
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(
            f"the SOCKS5 proxy {route.address} did not set up the tunnel to {target} "
            f"within {timeout}s"
        ) from exc
    except (socksio.ProtocolError, ValueError, UnicodeError) as exc:
        raise httpcore.ProxyError(
            f"the SOCKS5 proxy {route.address} broke the SOCKS5 protocol for {target}: {exc}"
        ) from exc
    except httpcore.ReadError as exc:
        raise httpcore.ProxyError(
            f"the SOCKS5 proxy {route.address} broke off the tunnel to {target}: {exc}"
        ) from exc


async def _read_socks_reply(stream: httpcore.AsyncNetworkStream) -> bytes:
    """The RFC 1928 §6 reply, shaped for socksio (a domain name without its length byte)."""
    reply = await _read_exact(stream, 4, None)
    atype = reply[3:4]
    if atype == socksio.SOCKS5AType.IPV4_ADDRESS:
        size = 4
    elif atype == socksio.SOCKS5AType.IPV6_ADDRESS:
        size = 16
    elif atype == socksio.SOCKS5AType.DOMAIN_NAME:
        size = (await _read_exact(stream, 1, None))[0]
    else:
        raise socksio.ProtocolError(f"unknown address type {atype!r} in the SOCKS5 reply")
    return reply + await _read_exact(stream, size + 2, None)


class TunnelBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend whose connections are tunnels through one proxy.

    ``connect_tcp(origin)`` returns a stream to the origin through the proxy;
    the pool on top then starts TLS with the origin and speaks HTTP/1.1 or
    HTTP/2 on it, as on any connection. Errors are raised as they are (an
    openwire :class:`~openwire.ProxyAuthError` passes through httpcore
    unchanged; the transport adds the request).
    """

    def __init__(self, tunnels: Tunnels, scheme: str) -> None:
        self._tunnels = tunnels
        self._scheme = scheme

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._tunnels.open(self._scheme, host, port)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets cannot be reached through a proxy")

    async def sleep(self, seconds: float) -> None:
        await self._tunnels.backend.sleep(seconds)
