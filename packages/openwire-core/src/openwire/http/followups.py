"""Follow-ups: what to do after a response that is not the final answer.

One call may take several network attempts: redirects, one retry after a
connection failure, a 401 challenge answered by ``ClientConfig.authenticator``
and a 407 (from a forwarding proxy) answered by
``ClientConfig.proxy_authenticator``. This layer sits above the bridge, so each
attempt is rebuilt from the application's request and re-bridged (Host,
cookies, framing), and network interceptors see every attempt.

A 407 nobody answers (no ``proxy_authenticator``, it gave up, or
``max_auth_attempts`` ran out) raises :class:`~openwire.ProxyAuthError`
rather than returning: the response is the proxy's, not the server's the
application asked, and the remedy is credentials, not reading a body.

Credentials across redirects, the one rule (:class:`CredentialGuard`):
``Authorization``, ``Cookie`` and ``Proxy-Authorization`` stay on hops within
the origin (scheme, host, port) of the call's first request. The first hop
that leaves it drops them, whether the request, an application interceptor or
the client's default headers supplied them, and from then on they are not
restored, even when a later hop comes back: a server on the way could have
chosen where that hop lands. Dropping means both removing the headers and
clearing ``Request.default_credentials`` so the bridge does not add the
client-wide ones again. Cookies from the cookie jar still follow the jar's
own domain and path rules, hop by hop; credentials an authenticator supplies
in answer to a challenge are kept for that attempt.

WebSocket handshakes follow redirects as websockets and aiohttp do: 301, 302,
303, 307 and 308, up to ``max_redirects``, with the same https → http refusal
and the same :class:`CredentialGuard`. The ``Location`` may be ``ws://``,
``wss://``, ``http://`` or ``https://`` (the same servers, RFC 6455 §3) or
relative, and the hop keeps the scheme family the call was written in; each hop is a
GET handshake with a key of its own (:meth:`HandshakeOffer.renewed
<openwire.protocol.handshake.HandshakeOffer.renewed>`), and the 3xx's
connection is closed rather than drained, since an upgrade connection is never
reused. The offer may override the client's ``follow_redirects`` and
``max_redirects`` for its call; an offer of another type is not redirected,
because its key cannot be renewed. A 3xx that is not followed, and a 401, go
back as-is for the WebSocket layer to report: handshakes are not authenticated
here.
"""

from __future__ import annotations

from openwire.config import FollowUpSettings
from openwire.errors import (
    ConnectError,
    HTTP2StreamError,
    ProxyAuthError,
    ReadError,
    RedirectRefused,
    RequestError,
    TooManyRedirects,
    WriteError,
)
from openwire.http.chain import Chain
from openwire.http.models import Request, Response
from openwire.http.url import URL
from openwire.interfaces import Authenticator
from openwire.protocol.handshake import HandshakeOffer

__all__ = ["Authenticator", "CredentialGuard", "FollowUps", "discard"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DRAIN_LIMIT = 64 * 1024
_BODY_HEADERS = ("content-length", "content-type", "content-encoding", "transfer-encoding")
_WEBSOCKET_SCHEMES = {"ws": "http", "wss": "https"}  # the same map as URL.wire_scheme


async def discard(response: Response) -> None:
    """Close a response we will not return, reading a small body so the connection is reused."""
    try:
        received = 0
        body = response.aiter_bytes()
        try:
            async for chunk in body:
                received += len(chunk)
                if received > _DRAIN_LIMIT:
                    break
        finally:
            await body.aclose()
    except RequestError:
        pass
    finally:
        await response.aclose()


class CredentialGuard:
    """Keeps one call's credentials within the origin of its first request.

    One guard per call: it remembers whether any hop has left the origin,
    because once one has, credentials stay off for the rest of the call.
    """

    __slots__ = ("_left", "_origin")

    def __init__(self, request: Request) -> None:
        self._origin = request.url.origin
        self._left = False

    def hop(self, request: Request) -> Request:
        """``request`` (the next redirect hop) as it may be sent."""
        if self._left or request.url.origin != self._origin:
            self._left = True
            return request.without_credentials()
        return request

    def retry(self, request: Request) -> Request:
        """An authenticator's answer, which keeps its own credentials.

        The authenticator answered a challenge from the server (or proxy) the
        credentials are meant for, so its headers stay; only the client-wide
        defaults stay off once the call has left its origin, whether or not
        the authenticator built its request from the one it was shown.
        """
        if self._left and request.default_credentials:
            return request.replace(default_credentials=False)
        return request


class FollowUps:
    """Redirects, the one retry and the authenticators (see the module docstring)."""

    def __init__(self, settings: FollowUpSettings) -> None:
        self._config = settings

    async def __call__(self, request: Request, chain: Chain) -> Response:
        history: list[Response] = []
        response = await self._follow(request, chain, history)
        if history:
            response.history = history
        return response

    async def _follow(self, request: Request, chain: Chain, history: list[Response]) -> Response:
        """The call's final response; each redirect followed on the way goes to ``history``."""
        config = self._config
        websocket = request.is_websocket
        follow_redirects, max_redirects = _redirect_policy(request, config)
        guard = CredentialGuard(request)
        current = request
        redirects = 0
        auth_attempts = 0
        proxy_auth_attempts = 0
        retried = False
        while True:
            try:
                response = await chain.proceed(current)
            except (ConnectError, ReadError, WriteError) as exc:
                if retried or not self._can_retry(current) or _retried_below(exc):
                    raise
                retried = True
                continue

            if follow_redirects and response.status in _REDIRECTS:
                try:
                    follow = self._redirect(current, response)
                except RedirectRefused:
                    await _release(response, websocket)
                    raise
                if follow is None:
                    return response
                if redirects >= max_redirects:
                    await _release(response, websocket)
                    raise TooManyRedirects(
                        f"{request.method} {request.url} was redirected more than "
                        f"{max_redirects} times (last to {follow.url}); look for a "
                        "redirect loop, or raise max_redirects",
                        request=current,
                    )
                await _release(response, websocket)
                history.append(response)
                redirects += 1
                current = guard.hop(follow)
                continue

            if websocket:
                return response

            if response.status == 401 and config.authenticator is not None:
                if auth_attempts >= config.max_auth_attempts:
                    return response
                retry = await _ask(config.authenticator, response)
                if retry is None:
                    return response
                auth_attempts += 1
                await discard(response)
                current = guard.retry(retry)
                continue

            if response.status == 407:
                # Only a proxy sends 407, so the response is not the answer the
                # application asked for: answer the challenge or raise.
                authenticator = config.proxy_authenticator
                retry = None
                if authenticator is not None and proxy_auth_attempts < config.max_auth_attempts:
                    retry = await _ask(authenticator, response)
                if retry is None:
                    await discard(response)
                    raise ProxyAuthError(
                        _proxy_refusal(current, self._config, proxy_auth_attempts),
                        request=current,
                        status=407,
                    )
                proxy_auth_attempts += 1
                await discard(response)
                current = guard.retry(retry)
                continue

            return response

        raise AssertionError("unreachable")  # pragma: no cover

    def _can_retry(self, request: Request) -> bool:
        return (
            self._config.retry_on_connection_failure
            and request.is_idempotent
            and request.is_replayable
        )

    def _redirect(self, request: Request, response: Response) -> Request | None:
        """The next hop's request, or None when this 3xx is the answer.

        Credentials are left to the :class:`CredentialGuard`, which knows the
        call's origin; only a ``Host`` set for this hop's origin goes here.
        """
        location = response.headers.get("location")
        if not location:
            return None
        if not location.isascii():
            location = _utf8_location(location)
        try:
            target = request.url.join(location.strip())
            if request.is_websocket:
                target = _as_websocket(request.url, target)
        except ValueError:
            return None
        if target.scheme != target.wire_scheme and not request.is_websocket:
            return None  # a ws:// Location for a plain HTTP call is not ours to follow
        if target.wire_scheme not in ("http", "https"):
            return None
        if (
            request.url.wire_scheme == "https"
            and target.wire_scheme == "http"
            and not self._config.allow_insecure_redirects
        ):
            raise RedirectRefused(
                f"{request.url} redirected to {target}, which would drop https; pass "
                "allow_insecure_redirects=True to follow it anyway",
                request=request,
            )

        method = request.method
        content = request.content
        headers = request.headers.copy()
        status = response.status
        if (status == 303 and method != "HEAD") or (
            status in (301, 302)
            and method
            not in (
                "GET",
                "HEAD",
            )
        ):
            method, content = "GET", None
            for name in _BODY_HEADERS:
                headers.remove(name)
        elif not request.is_replayable:
            return None  # 307/308 must resend a body we can no longer produce
        if target.origin != request.url.origin:
            headers.remove("host")
        offer = request.websocket
        if isinstance(offer, HandshakeOffer):
            offer = offer.renewed()  # a GET without a body: the rules above kept it one
        return request.replace(
            method=method, url=target, headers=headers, content=content, websocket=offer
        )


def _as_websocket(current: URL, target: URL) -> URL:
    """A handshake hop's URL, in the scheme family the call was written in.

    RFC 6455 §3: ``ws``/``wss`` are ``http``/``https`` on the wire, so a
    ``Location`` of either family is followed; the hop keeps the family of
    the URL it came from, so a ``ws://`` call is never reported as ``http://``.
    """
    websocket_family = current.scheme in _WEBSOCKET_SCHEMES
    if websocket_family and target.scheme in ("http", "https"):
        return target.with_scheme("ws" if target.scheme == "http" else "wss")
    if not websocket_family and target.scheme in _WEBSOCKET_SCHEMES:
        return target.with_scheme(_WEBSOCKET_SCHEMES[target.scheme])
    return target


def _redirect_policy(request: Request, config: FollowUpSettings) -> tuple[bool, int]:
    """Whether this call follows redirects, and how many: a handshake's offer may say."""
    offer = request.websocket
    if offer is None:
        return config.follow_redirects, config.max_redirects
    if not isinstance(offer, HandshakeOffer):
        return False, 0  # its key cannot be renewed, and a key is for one request
    return (
        config.follow_redirects if offer.follow_redirects is None else offer.follow_redirects,
        config.max_redirects if offer.max_redirects is None else offer.max_redirects,
    )


async def _release(response: Response, websocket: bool) -> None:
    """Close a 3xx we will not return; drained first only if its connection may be reused."""
    if websocket:
        await response.aclose()  # an upgrade connection is never reused: nothing to drain for
    else:
        await discard(response)


async def _ask(authenticator: Authenticator, response: Response) -> Request | None:
    """The authenticator's answer; the response is closed if it raises."""
    try:
        return await authenticator(response)
    except BaseException:
        await response.aclose()
        raise


def _proxy_refusal(request: Request, config: FollowUpSettings, attempts: int) -> str:
    what = (
        f"the proxy answered {request.method} {request.url} with 407 Proxy Authentication Required"
    )
    if config.proxy_authenticator is None:
        return (
            f"{what} and no proxy_authenticator is set; set proxy_authenticator to answer "
            "the challenge with Proxy-Authorization, or put user:password in the proxy URL "
            "(http://user:password@proxy:port)"
        )
    if attempts >= config.max_auth_attempts:
        return (
            f"{what} after {attempts} answers from proxy_authenticator (max_auth_attempts="
            f"{config.max_auth_attempts}); the proxy refuses the credentials it supplies: "
            "check them, or put user:password in the proxy URL"
        )
    return (
        f"{what} and proxy_authenticator gave up (returned None); return a request "
        "carrying Proxy-Authorization, or put user:password in the proxy URL "
        "(http://user:password@proxy:port)"
    )


def _utf8_location(location: str) -> str:
    """A ``Location`` sent as raw UTF-8, read back as the text it is.

    Header fields are decoded as Latin-1 (every byte a character), but a
    server that puts a non-ASCII path in ``Location`` sends UTF-8 (RFC 3986
    §2.5 asks for percent-encoded UTF-8; browsers, requests and httpx read
    the raw bytes as UTF-8). Left as Latin-1 the path would be encoded twice.
    """
    try:
        return location.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return location


def _retried_below(exc: BaseException) -> bool:
    """An HTTP/2 stream the server did not process: the multiplexer already sent it again.

    It retries such a stream (``retryable``: ``REFUSED_STREAM``, or above a
    graceful GOAWAY's last stream id) once, on another connection; a second
    refusal is the answer, and retrying here too would double the attempts.
    Any other stream or connection error is a failure like any other, for
    the one retry above.
    """
    return isinstance(exc, HTTP2StreamError) and exc.retryable
