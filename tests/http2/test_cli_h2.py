"""``openwire ws --http-version``: the CLI opens WebSockets over HTTP/2 too."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from tests.cli.conftest import run_cli
from tests.http2.conftest import H2Server


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.mark.parametrize(("version", "shown"), [("2", "HTTP/2"), ("auto", "HTTP/2"), ("1.1", None)])
def test_ws_over_the_chosen_http_version(
    hypercorn_h2: H2Server, ca_file: str, version: str, shown: str | None
) -> None:
    result = run_cli(
        "ws",
        hypercorn_h2.url + "/",
        "--cacert",
        ca_file,
        "--http-version",
        version,
        "--once",
        input="hello\n",
    )
    if shown is None:
        # hypercorn answers an HTTP/1.1 upgrade on the same port as well.
        assert result.returncode == 0, result.stderr
        assert "HTTP/1.1" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert shown in result.stderr
    assert "text 5 B hello" in result.stdout


def test_an_unknown_http_version_is_a_usage_error(hypercorn_h2: H2Server) -> None:
    result = run_cli("ws", hypercorn_h2.url + "/", "--http-version", "3", "--once")
    assert result.returncode == 2
    assert "--http-version" in result.stderr
