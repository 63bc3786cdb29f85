"""Attribute, event and instrument names, and the URL as a span may show it.

Names from the OpenTelemetry semantic conventions are used where they exist
(:data:`SEMCONV_VERSION`); the ones openwire adds start with ``openwire.``
and are listed in the package README. One place for every name, so the
README, the tests and the code cannot drift apart.
"""

from __future__ import annotations

from openwire.http.url import URL

SEMCONV_VERSION = "1.44.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

# -- semantic conventions ----------------------------------------------------------
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_REQUEST_METHOD_ORIGINAL = "http.request.method_original"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
HTTP_REQUEST_RESEND_COUNT = "http.request.resend_count"
URL_FULL = "url.full"
URL_SCHEME = "url.scheme"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
NETWORK_PROTOCOL_VERSION = "network.protocol.version"
NETWORK_IO_DIRECTION = "network.io.direction"
TLS_PROTOCOL_NAME = "tls.protocol.name"
TLS_PROTOCOL_VERSION = "tls.protocol.version"

# -- openwire's own ----------------------------------------------------------------
CONNECTION_REUSED = "openwire.connection.reused"
DNS_ADDRESSES = "openwire.dns.addresses"
WS_HANDSHAKE = "openwire.websocket.handshake"
WS_SUBPROTOCOL = "openwire.websocket.subprotocol"
WS_EXTENSIONS = "openwire.websocket.extensions"
WS_ENGINE = "openwire.websocket.engine"
WS_OPCODE = "openwire.websocket.opcode"
WS_MESSAGE_SIZE = "openwire.websocket.message.size"
WS_CLOSE_CODE = "openwire.websocket.close.code"
WS_CLOSE_REASON = "openwire.websocket.close.reason"
WS_CLOSE_INITIATOR = "openwire.websocket.close.initiator"
WS_MESSAGES_SENT = "openwire.websocket.messages.sent"
WS_MESSAGES_RECEIVED = "openwire.websocket.messages.received"
WS_MESSAGE_EVENTS_DROPPED = "openwire.websocket.message_events.dropped"

# -- span events -------------------------------------------------------------------
EVENT_DNS_START = "openwire.dns.start"
EVENT_DNS_END = "openwire.dns.end"
EVENT_CONNECT_START = "openwire.connect.start"
EVENT_CONNECT_END = "openwire.connect.end"
EVENT_CONNECT_FAILED = "openwire.connect.failed"
EVENT_TLS_START = "openwire.tls.start"
EVENT_TLS_END = "openwire.tls.end"
EVENT_RESPONSE_HEADERS = "openwire.response.headers"
EVENT_WS_CLOSING = "openwire.websocket.closing"
EVENT_WS_MESSAGE = "openwire.websocket.message"

# -- instruments -------------------------------------------------------------------
METRIC_HTTP_DURATION = "http.client.request.duration"
METRIC_WS_OPEN = "openwire.websocket.open_connections"
METRIC_WS_DURATION = "openwire.websocket.connection.duration"
METRIC_WS_MESSAGES = "openwire.websocket.messages"
METRIC_WS_IO = "openwire.websocket.io"
METRIC_WS_PING = "openwire.websocket.ping.duration"
METRIC_WS_CLOSES = "openwire.websocket.closes"
METRIC_WS_RECONNECTS = "openwire.websocket.reconnects"

KNOWN_METHODS = frozenset(
    ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY")
)

DEFAULT_SENSITIVE_QUERY_PARAMETERS: tuple[str, ...] = (
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "sig",
    "X-Goog-Signature",
)
"""The keys whose query values the conventions ask to show as ``REDACTED`` (case-sensitive)."""

REDACTED = "REDACTED"


def error_type(error: BaseException) -> str:
    """``error.type`` for an exception: its fully qualified class name, as the conventions ask.

    openwire's errors are reported under the public ``openwire`` name they
    are exported as, not the module that defines them, so dashboards keep
    working when the code moves.
    """
    cls = type(error)
    module = cls.__module__
    if module.startswith("openwire.") and module != "openwire.testing":
        module = "openwire"
    elif module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def full_url(url: URL, sensitive: frozenset[str], scheme: str | None = None) -> str:
    """``url.full``: credentials as ``REDACTED:REDACTED@``, sensitive query values ``REDACTED``."""
    userinfo = (
        f"{REDACTED}:{REDACTED}@" if url.username is not None or url.password is not None else ""
    )
    query = url.query
    if query and sensitive:
        parts = query.split("&")
        for index, part in enumerate(parts):
            name, equals, _ = part.partition("=")
            if equals and name in sensitive:
                parts[index] = f"{name}={REDACTED}"
        query = "&".join(parts)
    target = f"{url.path}?{query}" if query else url.path
    return f"{scheme or url.scheme}://{userinfo}{url.netloc}{target}"


def tls_version(version: str) -> tuple[str, str] | None:
    """``(tls.protocol.name, tls.protocol.version)`` from ``ssl``'s ``TLSv1.3``."""
    if version.startswith("TLSv"):
        return "tls", version[4:]
    if version.startswith("SSLv"):
        return "ssl", version[4:]
    return None
