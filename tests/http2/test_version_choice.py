"""Which HTTP version a WebSocket call may use: the option, else the client's ``http2``."""

from __future__ import annotations

import pytest
from openwire import Client
from openwire.errors import GoAway, HTTP2StreamError, StreamReset
from openwire.http.multiplex import Multiplexer, connect_headers
from openwire.http2.codes import CLOSE_CODES, closed_error
from openwire.protocol.handshake import HandshakeOffer
from openwire.websocket.call import handshake_request


@pytest.mark.parametrize(
    ("http2", "option", "expected"),
    [(False, None, "1.1"), (True, None, "auto"), (False, "2", "2"), (True, "1.1", "1.1")],
)
def test_the_option_wins_over_the_client_default(
    http2: bool, option: str | None, expected: str
) -> None:
    call = Client(http2=http2).new_websocket("wss://example.test/", http_version=option)
    assert call.http_version == expected


def test_an_unknown_version_is_refused_before_any_io() -> None:
    with pytest.raises(ValueError, match="http_version"):
        Client().new_websocket("wss://example.test/", http_version="3")


@pytest.mark.parametrize(
    ("url", "version", "tries_h2"),
    [
        ("wss://example.test/", "auto", True),
        ("wss://example.test/", "2", True),
        ("wss://example.test/", "1.1", False),
        ("ws://example.test/", "auto", False),  # nothing to negotiate without TLS
        ("ws://example.test/", "2", True),  # prior knowledge
    ],
)
def test_which_handshakes_try_http2(url: str, version: str, tries_h2: bool) -> None:
    request = handshake_request(url).replace(websocket=HandshakeOffer(http_version=version))  # type: ignore[arg-type]
    multiplexer = Multiplexer(None, None, None, None)  # type: ignore[arg-type]
    assert multiplexer.wants(request) is tries_h2


def test_connect_headers_drop_what_http2_forbids() -> None:
    request = handshake_request("wss://example.test:8443/a?b=1", origin="https://o.test")
    request = request.replace(
        headers=[
            *request.headers.items(),
            ("Host", "example.test:8443"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "abc"),
            ("Sec-WebSocket-Version", "13"),
            ("Keep-Alive", "5"),
        ]
    )
    fields = connect_headers(request, b"/a?b=1")
    assert fields[:5] == [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", b"https"),
        (b":authority", b"example.test:8443"),
        (b":path", b"/a?b=1"),
    ]
    names = [name for name, _ in fields[5:]]
    assert names == [b"origin", b"sec-websocket-version"]


def test_every_http2_error_code_has_a_close_code() -> None:
    assert sorted(CLOSE_CODES) == list(range(14))
    reset = closed_error(HTTP2StreamError(0x8, "reset"))
    assert isinstance(reset, StreamReset) and (reset.code, reset.error_name) == (1001, "CANCEL")
    away = closed_error(HTTP2StreamError(0xB, "calm down", goaway=True))
    assert isinstance(away, GoAway) and away.code == 1008
    unknown = closed_error(HTTP2StreamError(0x99, "?"))
    assert (unknown.code, unknown.error_name) == (1006, "0x99")
