"""Loopback peers shared by the test suite (registered as a pytest plugin)."""

from __future__ import annotations

import pytest
from openwire.testing.servers import BackgroundLoop


@pytest.fixture(scope="session")
def server_loop(ow_loop: BackgroundLoop) -> BackgroundLoop:
    """The one background asyncio loop that hosts every test server."""
    return ow_loop
