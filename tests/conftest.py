"""Shared fixtures: every async test runs on asyncio and on trio (see openwire.testing.plugin).

Peers (HTTP servers, WebSocket servers, scripted raw servers) run in a
background thread with their own asyncio loop, so the same server serves a
client on either backend.
"""

from __future__ import annotations

pytest_plugins = ["tests.peers", "tests.http_peers", "tests.proxy_peers", "openwire.testing.plugin"]
