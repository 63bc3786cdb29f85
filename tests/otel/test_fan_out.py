"""The core's additions the instrumentation stands on: ``fan_out`` and ``websocket_negotiated``."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from openwire import Client, EventListener, FanOutListener, ListenerDispatch, fan_out
from openwire.testing.servers import RawPeer


class Hosts(EventListener):
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def dns_start(self, host: str) -> None:
        self.seen.append(f"hosts:{host}")


class Everything(EventListener):
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def dns_start(self, host: str) -> None:
        self.seen.append(f"everything:{host}")

    def call_end(self, request: Any) -> None:
        self.seen.append("everything:call_end")


def test_each_listener_gets_each_event_it_handles_in_order() -> None:
    seen: list[str] = []
    events = ListenerDispatch(FanOutListener(Hosts(seen), Everything(seen)))
    assert events.wants("dns_start")
    assert events.wants("call_end")
    assert not events.wants("websocket_message_sent")  # nobody handles it: still free
    events.dns_start("example.org")
    events.call_end(None)  # type: ignore[arg-type]
    assert seen == ["hosts:example.org", "everything:example.org", "everything:call_end"]


def test_an_instance_attribute_counts_as_handling_the_event() -> None:
    seen: list[int] = []
    inner = EventListener()
    inner.websocket_message_sent = lambda kind, size: seen.append(size)  # type: ignore[method-assign]
    events = ListenerDispatch(FanOutListener(inner))
    assert events.wants("websocket_message_sent")
    events.websocket_message_sent("text", 5)
    assert seen == [5]


def test_a_listener_that_raises_does_not_stop_the_next(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    class Broken(EventListener):
        def dns_start(self, host: str) -> None:
            raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="openwire.events"):
        ListenerDispatch(FanOutListener(Broken(), Hosts(seen))).dns_start("example.org")
    assert seen == ["hosts:example.org"]
    assert "EventListener.dns_start raised" in caplog.text


def test_fan_out_of_factories() -> None:
    assert fan_out() is None
    assert fan_out(None, None) is None
    assert fan_out(None, EventListener) is EventListener
    make = fan_out(EventListener, lambda: Hosts([]))
    assert make is not None
    listener = make()
    assert isinstance(listener, FanOutListener)
    assert [type(inner) for inner in listener.listeners] == [EventListener, Hosts]
    assert make() is not listener  # one per call


@pytest.mark.anyio
async def test_websocket_negotiated_reports_what_the_handshake_settled(
    engine: str, scripted: Any
) -> None:
    got: list[tuple[str, Any]] = []

    class Negotiated(EventListener):
        def websocket_open(self, response: Any) -> None:
            got.append(("open", None))

        def websocket_negotiated(
            self, subprotocol: str | None, extensions: list[str], engine: str
        ) -> None:
            got.append(("negotiated", (subprotocol, extensions, engine)))

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Protocol", "b")])
        await peer.read_until_close()

    server = scripted(script)
    async with Client(event_listener_factory=Negotiated) as client:
        ws = await client.new_websocket(
            server.url, engine=engine, subprotocols=["a", "b"], ping_interval=None
        ).execute()
        await ws.close()
    await server.wait()
    assert got == [("open", None), ("negotiated", ("b", [], engine))]
    assert (ws.subprotocol, ws.extensions, ws.engine) == ("b", [], engine)


def test_instance_event_methods_are_seen_whatever_was_fanned_out_before() -> None:
    # The fan-out remembers which events each combination of classes
    # handles; an instance with an event method of its own must not be
    # answered from (or poison) that memory.
    seen: list[int] = []
    plain = ListenerDispatch(FanOutListener(Hosts([]), EventListener()))
    assert not plain.wants("websocket_message_sent")
    inner = EventListener()
    inner.websocket_message_sent = lambda kind, size: seen.append(size)  # type: ignore[method-assign]
    custom = ListenerDispatch(FanOutListener(Hosts([]), inner))
    assert custom.wants("websocket_message_sent")
    custom.websocket_message_sent("binary", 3)
    assert seen == [3]
    again = ListenerDispatch(FanOutListener(Hosts([]), EventListener()))
    assert not again.wants("websocket_message_sent")
