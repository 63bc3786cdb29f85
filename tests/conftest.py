"""Shared fixtures: every async test runs on asyncio and on trio.

Peers (HTTP servers, WebSocket servers, scripted raw servers) run in a
background thread with their own asyncio loop, so the same server serves a
client on either backend.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.peers", "tests.http_peers", "openwire.testing.plugin"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
