"""openwire's timeouts are the built-in TimeoutError; HandshakeTimeout is a WebSocketError.

The built-in is an OSError, whose constructor, ``str()`` and pickling have
rules of their own (``OSError(errno, strerror)``); these tests pin that
openwire's errors keep behaving as the rest of the tree does, and that real
timeouts, raised by real peers that never answer, are caught by
``except TimeoutError:`` without one timeout turning into another.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from openwire import (
    CallTimeout,
    Client,
    ConnectTimeout,
    HandshakeError,
    HandshakeTimeout,
    OpenWireError,
    PoolTimeout,
    ReadTimeout,
    Request,
    RequestError,
    Timeouts,
    WebSocketError,
    WriteTimeout,
)
from openwire import TimeoutError as OpenWireTimeout
from openwire.testing.servers import RawPeer

from tests.http_peers import Handler, RawServer, read_request_head

TIMEOUTS = [
    OpenWireTimeout,
    ConnectTimeout,
    ReadTimeout,
    WriteTimeout,
    PoolTimeout,
    CallTimeout,
    HandshakeTimeout,
]


@pytest.mark.parametrize("cls", TIMEOUTS)
def test_every_timeout_is_the_builtin_and_still_a_request_error(cls: type[Exception]) -> None:
    request = Request("GET", "https://example.org/x")
    error = cls("the server took too long; raise the timeout", request=request)  # type: ignore[call-arg]
    assert isinstance(error, builtins.TimeoutError)
    assert isinstance(error, OSError)
    assert isinstance(error, OpenWireTimeout)
    assert isinstance(error, RequestError)
    assert isinstance(error, OpenWireError)
    assert str(error) == "the server took too long; raise the timeout"
    assert error.args == ("the server took too long; raise the timeout",)
    assert error.request is request  # type: ignore[attr-defined]
    # OSError's fields exist and say nothing, rather than parsing the message.
    assert (error.errno, error.strerror, error.filename) == (None, None, None)  # type: ignore[attr-defined]
    assert isinstance(error, WebSocketError) is (cls is HandshakeTimeout)


def test_handshake_timeout_is_a_websocket_error_but_not_a_handshake_error() -> None:
    error = HandshakeTimeout("slow")
    assert isinstance(error, WebSocketError)
    assert not isinstance(error, HandshakeError)  # the server did not refuse; it did not answer
    assert error.phase == "handshake"
    assert error.request is None


@pytest.mark.parametrize("cls", TIMEOUTS)
@pytest.mark.parametrize(
    "duplicate",
    [
        lambda e: pickle.loads(pickle.dumps(e)),
        copy.copy,
        copy.deepcopy,
    ],
    ids=["pickle", "copy", "deepcopy"],
)
def test_pickling_and_copying_keep_type_message_and_request(
    cls: type[Exception], duplicate: Callable[[Exception], Exception]
) -> None:
    error = cls("too slow", request=Request("GET", "http://example.org/a?b=1"))  # type: ignore[call-arg]
    again = duplicate(error)
    assert type(again) is cls
    assert str(again) == "too slow"
    assert again.request is not None  # type: ignore[attr-defined]
    assert str(again.request.url) == "http://example.org/a?b=1"  # type: ignore[attr-defined]
    assert again.phase == error.phase  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", TIMEOUTS)
def test_every_except_clause_catches_it(cls: type[Exception]) -> None:
    def fail() -> None:
        raise cls("late")  # type: ignore[call-arg]

    for caught in (builtins.TimeoutError, OSError, OpenWireTimeout, RequestError, OpenWireError):
        with pytest.raises(caught):
            fail()
    caught: BaseException | None = None
    try:
        fail()
    except TimeoutError as error:  # the built-in name, as asyncio users write it
        caught = error
    assert type(caught) is cls


def test_other_errors_are_not_timeouts() -> None:
    assert not issubclass(RequestError, builtins.TimeoutError)
    assert not issubclass(WebSocketError, OSError)
    assert not issubclass(HandshakeError, builtins.TimeoutError)


# ---------------------------------------------------------------- real timeouts


@pytest.mark.anyio
async def test_a_real_handshake_timeout_is_caught_as_timeout_error(scripted: Any) -> None:
    async def silent(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.wait_eof()  # never answers; ends when the client gives up

    server = scripted(silent)
    async with Client() as client:
        try:
            await client.new_websocket(server.url, handshake_timeout=0.3).execute()
        except TimeoutError as error:
            caught: BaseException = error
        else:
            pytest.fail("the handshake should have timed out")
    assert isinstance(caught, HandshakeTimeout)
    assert isinstance(caught, WebSocketError)
    assert caught.request is not None
    assert "handshake_timeout=0.3" in str(caught)


async def _silent_http(index: int, reader: asyncio.StreamReader, writer: Any) -> None:
    await read_request_head(reader)
    await reader.read()  # until the client closes


@pytest.mark.anyio
async def test_a_read_timeout_inside_the_call_deadline_stays_a_read_timeout(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    # The whole-call deadline and the handshake timeout both catch the
    # built-in TimeoutError: a ReadTimeout raised inside them is one too,
    # and must come out as itself, not as the outer deadline.
    server = raw_server(_silent_http)
    async with Client(timeouts=Timeouts(read=0.2, call=30)) as client:
        with pytest.raises(ReadTimeout) as info:
            await client.get(server.url + "/")
    assert not isinstance(info.value, CallTimeout)


@pytest.mark.anyio
async def test_a_read_timeout_inside_the_handshake_timeout_stays_a_read_timeout(
    scripted: Any,
) -> None:
    async def silent(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.wait_eof()

    ws_server = scripted(silent)
    async with Client(timeouts=Timeouts(read=0.2)) as client:
        with pytest.raises(ReadTimeout) as ws_info:
            await client.new_websocket(ws_server.url, handshake_timeout=30).execute()
    assert not isinstance(ws_info.value, HandshakeTimeout)
