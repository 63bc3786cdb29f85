"""``ListenerDispatch`` fires each event with the listener's own signature, typed."""

from __future__ import annotations

import inspect
import logging

import pytest
from openwire import EventListener, ListenerDispatch
from openwire.events import EVENT_NAMES


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_dispatch_has_each_event_with_the_listener_signature(name: str) -> None:
    assert inspect.signature(getattr(ListenerDispatch, name)) == inspect.signature(
        getattr(EventListener, name)
    )


def test_dispatch_calls_only_what_the_listener_overrides() -> None:
    seen: list[tuple[str, int]] = []

    class Sizes(EventListener):
        def websocket_message_sent(self, kind: str, size: int) -> None:
            seen.append((kind, size))

    events = ListenerDispatch(Sizes())
    assert events.wants("websocket_message_sent")
    assert not events.wants("websocket_message_received")
    events.websocket_message_sent("text", 3)
    events.websocket_message_received("text", 4)
    assert seen == [("text", 3)]


def test_a_listener_that_raises_is_logged_and_the_call_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(EventListener):
        def dns_start(self, host: str) -> None:
            raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="openwire.events"):
        ListenerDispatch(Broken()).dns_start("example.com")
    assert "EventListener.dns_start raised" in caplog.text


def test_dispatch_without_a_listener_has_no_dict() -> None:
    events = ListenerDispatch(None)
    assert not hasattr(events, "__dict__")
    events.call_start  # noqa: B018 - every event exists, and does nothing
