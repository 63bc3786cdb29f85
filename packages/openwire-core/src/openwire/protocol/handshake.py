"""The opening handshake (RFC 6455 §4.1): what to ask for, and what to accept.

The request travels through the client's whole stack like any call; this
module only builds the offer (the bridge turns it into headers) and checks the
server's answer, in the order RFC 6455 §4.1 lists the client's checks, so the
first thing wrong is the thing reported.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from openwire.errors import (
    AuthenticationFailed,
    InvalidAccept,
    InvalidConnection,
    InvalidExtension,
    InvalidSubprotocol,
    InvalidUpgrade,
    UnexpectedStatus,
)

if TYPE_CHECKING:
    from openwire.http.models import Response

__all__ = [
    "GUID",
    "HTTPVersion",
    "HandshakeOffer",
    "HandshakeResult",
    "accept_key",
    "accepted",
    "validate_response",
]

HTTPVersion = Literal["auto", "1.1", "2"]
"""Which HTTP version a WebSocket handshake may use (see :class:`HandshakeOffer`)."""

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BODY_PREVIEW_LIMIT = 64 * 1024


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer ``key`` with (§4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


@dataclass(frozen=True)
class HandshakeOffer:
    """What the client asks for; carried in :attr:`Request.websocket <openwire.Request>`.

    The bridge calls :meth:`headers` so the handshake headers are added at the
    same layer as Host and User-Agent, and interceptors see them on the wire.

    ``follow_redirects`` and ``max_redirects`` are this handshake's redirect
    policy (``None``: the client's); the follow-ups read them, nothing sends
    them. Each redirect hop carries :meth:`renewed`, so every request has a
    key of its own (RFC 6455 §4.1: a nonce randomly selected per connection).

    ``http_version`` is the HTTP version the handshake may travel on:
    ``"1.1"`` (the RFC 6455 upgrade), ``"2"`` (an extended CONNECT, RFC
    8441, or a typed error) or ``"auto"`` (HTTP/2 where the origin offers
    it, else HTTP/1.1). Interceptors see the request as built, with the
    HTTP/1.1 handshake headers; the transport turns it into the extended
    CONNECT (dropping ``Sec-WebSocket-Key``, ``Upgrade`` and ``Connection``)
    when it sends it on an HTTP/2 connection. The answer's
    ``response.http_version`` says which one carried it.
    """

    subprotocols: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    key: str = field(default_factory=_new_key)
    follow_redirects: bool | None = None
    max_redirects: int | None = None
    http_version: HTTPVersion = "1.1"

    def renewed(self) -> HandshakeOffer:
        """The same offer with a fresh key, for the next hop of a redirect."""
        return replace(self, key=_new_key())

    def headers(self) -> list[tuple[str, str]]:
        headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", self.key),
            ("Sec-WebSocket-Version", "13"),
        ]
        if self.subprotocols:
            headers.append(("Sec-WebSocket-Protocol", ", ".join(self.subprotocols)))
        if self.extensions:
            headers.append(("Sec-WebSocket-Extensions", ", ".join(self.extensions)))
        return headers


@dataclass(frozen=True)
class HandshakeResult:
    subprotocol: str | None
    extensions: list[str]


def _tokens(values: Sequence[str]) -> list[str]:
    return [token.strip() for value in values for token in value.split(",") if token.strip()]


_AUTH_HINTS = {
    401: "the server wants credentials it did not get or did not accept; send an "
    "Authorization header it accepts",
    403: "the server refused the credentials sent, or they lack the right to this resource; "
    "check the credentials and the URL",
    407: "a proxy wants credentials; put them in the proxy URL or set proxy_authenticator",
}


def check_status(response: Response, body: bytes) -> None:
    """Raise for anything but 101: :class:`AuthenticationFailed` for 401/403/407.

    Authentication failures get their own type because the remedy is new
    credentials, never the same request again (a reconnecting loop raises
    them at once).
    """
    if accepted(response):
        return
    status = response.status
    headers = list(response.headers.items())
    where = f" to {response.request.url}" if response.request is not None else ""
    hint = _AUTH_HINTS.get(status)
    if hint is not None:
        wanted = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
        challenges = "; ".join(response.headers.get_list(wanted))
        raise AuthenticationFailed(
            f"the server refused the WebSocket handshake{where} with {status} {response.reason}: "
            f"authentication failed{f' ({wanted}: {challenges})' if challenges else ''}; "
            f"{hint}. Retrying with the same request will not help.",
            status=status,
            reason=response.reason,
            headers=headers,
            body=body,
        )
    location = response.headers.get("location")
    hint = (
        f" The server redirected to {location!r}: redirects are followed unless "
        "follow_redirects=False (per call or on the client), and only to a ws://, "
        "wss://, http:// or https:// Location."
        if 300 <= status < 400 and location
        else ""
    )
    expected = (
        "200 to the extended CONNECT (RFC 8441)"
        if response.http_version == "HTTP/2"
        else "101 Switching Protocols"
    )
    raise UnexpectedStatus(
        f"expected status {expected} for the WebSocket handshake{where}, got "
        f"{status} {response.reason or ''}.{hint}",
        status=status,
        headers=headers,
        body=body,
    )


def accepted(response: Response) -> bool:
    """Whether the status opens the WebSocket: 101 on HTTP/1.1, any 2xx on HTTP/2.

    RFC 8441 §5 answers the extended CONNECT with 200; like any CONNECT, a
    2xx is success (RFC 9110 §9.3.6).
    """
    if response.http_version == "HTTP/2":
        return 200 <= response.status < 300
    return response.status == 101


def validate_response(response: Response, offer: HandshakeOffer) -> HandshakeResult:
    """Check an accepting answer; raise the first :class:`HandshakeError` that applies.

    Over HTTP/2 there is no ``Upgrade``, ``Connection`` nor
    ``Sec-WebSocket-Accept`` to check (RFC 8441 §5): the stream itself is
    the proof that the server took the CONNECT; subprotocol and extensions
    are checked as for HTTP/1.1.
    """
    fields = _fields(response)
    if response.http_version == "HTTP/2":
        return _negotiated(fields, offer)
    upgrade = _tokens(fields.get("upgrade", ()))
    if [u.lower() for u in upgrade] != ["websocket"]:
        raise InvalidUpgrade(
            f"expected 'Upgrade: websocket' in the 101 response, got "
            f"{', '.join(upgrade) or 'no Upgrade header'!r}"
        )
    connection = [c.lower() for c in _tokens(fields.get("connection", ()))]
    if "upgrade" not in connection:
        raise InvalidConnection(
            f"expected 'Connection: Upgrade' in the 101 response, got "
            f"{', '.join(connection) or 'no Connection header'!r}"
        )
    expected = accept_key(offer.key)
    accept = fields.get("sec-websocket-accept", [])
    if accept != [expected]:
        raise InvalidAccept(
            f"expected Sec-WebSocket-Accept {expected!r} for the key we sent, got "
            f"{', '.join(accept) or 'none'!r}; the server (or a proxy) does not speak RFC 6455"
        )
    return _negotiated(fields, offer)


# The response fields the handshake reads, by lower-case name.
_CHECKED = frozenset(
    (
        "upgrade",
        "connection",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    )
)


def _fields(response: Response) -> dict[str, list[str]]:
    """The values of the fields the handshake checks, in order, in one pass over the head.

    A 101 carries a handful of fields and the checks read five of them; one
    pass replaces a case-insensitive scan of every field per check.
    """
    fields: dict[str, list[str]] = {}
    for name, value in response.headers.items():
        key = name.lower()
        if key in _CHECKED:
            values = fields.get(key)
            if values is None:
                fields[key] = [value]
            else:
                values.append(value)
    return fields


def _negotiated(fields: dict[str, list[str]], offer: HandshakeOffer) -> HandshakeResult:
    protocols = _tokens(fields.get("sec-websocket-protocol", ()))
    subprotocol: str | None = None
    if protocols:
        if len(protocols) > 1:
            raise InvalidSubprotocol(
                f"the server chose several subprotocols {protocols}; expected one of "
                f"{list(offer.subprotocols)}"
            )
        if protocols[0] not in offer.subprotocols:
            offered = list(offer.subprotocols) or "none"
            raise InvalidSubprotocol(
                f"the server chose subprotocol {protocols[0]!r}, which was not offered "
                f"(offered: {offered})"
            )
        subprotocol = protocols[0]
    extensions = _tokens(fields.get("sec-websocket-extensions", ()))
    offered_names = {e.split(";")[0].strip() for e in offer.extensions}
    for ext in extensions:
        name = ext.split(";")[0].strip()
        if name not in offered_names:
            raise InvalidExtension(
                f"the server accepted extension {name!r}, which was not offered "
                f"(offered: {sorted(offered_names) or 'none'})"
            )
    return HandshakeResult(subprotocol, extensions)
