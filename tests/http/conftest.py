"""Peers only the HTTP tests need: a tinyproxy that demands credentials."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.http_peers import Proxy, run_tinyproxy

PROXY_USER = "wire"
PROXY_PASSWORD = "s3cret"


def basic(user: str, password: str) -> str:
    """A Basic credentials header value (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@pytest.fixture(scope="session")
def auth_tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """tinyproxy with ``BasicAuth``: a forwarded request without credentials gets 407.

    (With wrong credentials tinyproxy 1.11 answers 401, not 407, so a refused
    password cannot be told from the origin's 401 there; the tests that need
    repeated 407s use a scripted proxy.)
    """
    yield from run_tinyproxy(tmp_path_factory, [f"BasicAuth {PROXY_USER} {PROXY_PASSWORD}"])
