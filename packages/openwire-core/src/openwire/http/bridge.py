"""The bridge: turns what the application asked for into what goes on the wire.

It runs once per network attempt (each redirect hop), below the follow-ups,
so every hop gets its own Host, framing and cookies. It adds only what is
missing; a header the application set wins. What it adds stays below it: the
response it hands up names the application's request, not the one sent. When it adds
``Accept-Encoding`` itself it also undoes that encoding, so the application
never sees compressed bytes it did not ask for.

Client-wide credentials (the ``Authorization``, ``Cookie`` and
``Proxy-Authorization`` among the default headers) are added only while
``request.default_credentials`` allows it. Whether a hop may carry them is
the follow-ups' decision (they clear it once a redirect leaves the call's
origin); the bridge never second-guesses it in either direction. Jar cookies
are added per hop by the jar's own domain and path rules.
"""

from __future__ import annotations

from openwire.config import BridgeSettings
from openwire.http.chain import Chain
from openwire.http.decoding import ACCEPT_ENCODING, DecodingStream, decoder_for
from openwire.http.headers import Headers
from openwire.http.models import CREDENTIAL_HEADERS, Request, Response, WebSocketOffer
from openwire.interfaces import CookieJar

__all__ = ["Bridge", "BridgeSettings", "WebSocketHandshake"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NOTHING: frozenset[str] = frozenset()


WebSocketHandshake = WebSocketOffer
"""Former name of :class:`~openwire.http.models.WebSocketOffer`."""


class Bridge:
    """Adds what the application left out, per attempt (see the module docstring)."""

    def __init__(self, settings: BridgeSettings) -> None:
        self._user_agent = settings.user_agent
        self._defaults = settings.headers
        self._jar: CookieJar | None = settings.cookie_jar

    async def __call__(self, request: Request, chain: Chain) -> Response:
        handshake = request.websocket
        pairs = handshake.headers() if handshake is not None else None
        # The fields a handshake sets replace any of the same name, wherever
        # they came from (the request, the defaults).
        owned = {n.lower() for n, _ in pairs} if pairs is not None else _NOTHING
        # One pass over what the request has; the defaults fill in the rest.
        fields: list[tuple[str, str]] = []
        present: set[str] = set()
        for name, value in request.headers.items():
            key = name.lower()
            present.add(key)
            if key not in owned:
                fields.append((name, value))
        if "host" not in present:
            fields.insert(0, ("Host", request.url.netloc))
        defaults = self._defaults
        if not request.default_credentials:
            defaults = tuple((n, v) for n, v in defaults if n.lower() not in CREDENTIAL_HEADERS)
        if self._user_agent:
            defaults = (*defaults, ("User-Agent", self._user_agent))
        for name, value in defaults:
            key = name.lower()
            if key not in present:
                present.add(key)
                if key not in owned:
                    fields.append((name, value))
        headers = Headers.adopt(fields)

        decode = False
        if pairs is not None:
            fields.extend(pairs)  # the list the headers hold
        else:
            self._frame_body(request, headers)
            if "accept-encoding" not in present and request.method != "HEAD":
                if "range" in present:
                    # A 206 of an encoded body is a slice of the encoding (RFC
                    # 9110 §14), which no decoder can start mid-stream; without
                    # the field any coding would be acceptable (§12.5.3).
                    headers["Accept-Encoding"] = "identity"
                else:
                    headers["Accept-Encoding"] = ACCEPT_ENCODING
                    decode = True

        if self._jar is not None:
            cookie = self._jar.cookie_header(request)
            if cookie:
                existing = headers.get("cookie")
                headers["Cookie"] = f"{existing}; {cookie}" if existing else cookie

        sent = request._copy(headers)
        response = await chain.proceed(sent)
        if self._jar is not None:
            self._jar.save(sent, response)
        # Above the bridge the response answers the request as the application
        # wrote it (as OkHttp's bridge does): an authenticator or interceptor
        # that copies ``response.request`` must not carry the fields added here
        # (Accept-Encoding would turn decoding off, the jar's Cookie would be
        # sent twice), since the bridge adds them again on the next attempt.
        response.request = request
        if decode:
            return _decoded(response, sent)
        return response

    @staticmethod
    def _frame_body(request: Request, headers: Headers) -> None:
        content = request.content
        if "content-length" in headers or "transfer-encoding" in headers:
            return
        if isinstance(content, bytes):
            if content or request.method in _BODY_METHODS:
                headers["Content-Length"] = str(len(content))
        elif content is not None:
            headers["Transfer-Encoding"] = "chunked"
        elif request.method in _BODY_METHODS:
            headers["Content-Length"] = "0"


def _decoded(response: Response, request: Request) -> Response:
    decoder = decoder_for(response.headers.get("content-encoding"))
    if decoder is None:
        return response
    headers = response.headers.copy()
    headers.remove("content-encoding")
    headers.remove("content-length")  # it described the encoded body
    return Response(
        response.status,
        headers=headers,
        content=DecodingStream(response.body_stream(), decoder, request),
        request=response.request,
        http_version=response.http_version,
        reason=response.reason,
        extensions=response.extensions,
    )
