"""Global options anywhere, exit statuses (2 usage, 1 failure), the library's explanations kept."""

from __future__ import annotations

import importlib.util

import pytest
from openwire.cli.demo_server import EchoServer as DemoEchoServer
from openwire.testing.servers import EchoServer as WebsocketsEchoServer

from tests.cli.conftest import Runner


@pytest.mark.parametrize(
    "argv",
    [
        ("--color", "always", "get", "-i", "{url}/hello"),
        ("get", "-i", "{url}/hello", "--color", "always"),
        ("get", "--colour", "always", "-i", "{url}/hello"),
    ],
)
def test_color_before_or_after_the_subcommand(
    cli: Runner, http_url: str, argv: tuple[str, ...]
) -> None:
    result = cli(*(arg.format(url=http_url) for arg in argv))
    assert result.returncode == 0, result.stderr
    assert "\x1b[" in result.stdout  # colour although stdout is not a terminal


def test_color_after_ws_is_accepted(cli: Runner, demo_server: DemoEchoServer) -> None:
    result = cli("ws", demo_server.url, "--once", "--color", "never", input="hi\n")
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout + result.stderr


def test_get_with_a_ws_url_points_to_openwire_ws(cli: Runner) -> None:
    result = cli("get", "ws://127.0.0.1:9/chat")
    assert result.returncode == 2
    assert "openwire ws ws://127.0.0.1:9/chat" in result.stderr


def test_get_with_another_scheme_is_a_usage_error(cli: Runner) -> None:
    result = cli("get", "ftp://127.0.0.1:9/file")
    assert result.returncode == 2
    assert "http:// or https://" in result.stderr


def test_get_with_a_malformed_host_or_method_is_a_usage_error(cli: Runner) -> None:
    host = cli("get", "http://bad host/")
    assert host.returncode == 2, host.stderr
    assert "invalid host" in host.stderr
    method = cli("get", "-X", "BAD METHOD", "http://127.0.0.1:9/")
    assert method.returncode == 2, method.stderr
    assert "not an HTTP method" in method.stderr


def test_ws_with_a_malformed_host_is_a_usage_error(cli: Runner) -> None:
    result = cli("ws", "ws://bad host/", input="")
    assert result.returncode == 2, result.stderr
    assert "invalid host" in result.stderr


def test_get_max_time_bounds_the_whole_request(cli: Runner, http_url: str) -> None:
    result = cli("get", "--max-time", "0.3", f"{http_url}/slow")
    assert result.returncode == 1
    assert "CallTimeout" in result.stderr
    assert f"{http_url}/slow" in result.stderr
    assert cli("get", "-m", "0", f"{http_url}/slow").returncode == 2


def test_ws_with_a_bad_url_or_header_is_a_usage_error(
    cli: Runner, demo_server: DemoEchoServer
) -> None:
    bad_url = cli("ws", "ftp://127.0.0.1:9/", input="")
    assert bad_url.returncode == 2
    assert "ws://, wss://" in bad_url.stderr
    owned = cli("ws", demo_server.url, "-H", "Upgrade: h2c", input="")
    assert owned.returncode == 2
    assert "Upgrade" in owned.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("trio") is None or importlib.util.find_spec("aiohttp") is None,
    reason="needs trio and the aiohttp engine",
)
def test_an_engine_that_cannot_run_here_is_a_usage_error(
    cli: Runner, demo_server: DemoEchoServer
) -> None:
    result = cli("ws", demo_server.url, "--engine", "aiohttp", "--trio", input="")
    assert result.returncode == 2
    assert "runs on asyncio" in result.stderr
    assert "could not connect" not in result.stderr


def test_a_1009_keeps_the_librarys_explanation(
    cli: Runner, websockets_server: WebsocketsEchoServer
) -> None:
    url = f"{websockets_server.url}/send?size=5000"
    result = cli("ws", url, "--max-size", "1000", "--grace", "5", input="")
    assert result.returncode == 1
    assert "code 1009" in result.stderr
    assert "max_frame_size is 1000" in result.stderr  # why, in the library's words


def test_a_refused_upgrade_names_the_url(cli: Runner, http_url: str) -> None:
    url = f"{http_url.replace('http://', 'ws://')}/nowhere"
    result = cli("ws", url, input="")
    assert result.returncode == 1
    assert f"to {url}" in result.stderr
    assert "404" in result.stderr


def _sent_headers(result_stdout: str) -> dict[str, str]:
    lines = [line for line in result_stdout.splitlines() if ": " in line]
    return {k.lower(): v for k, _, v in (line.partition(": ") for line in lines)}


def test_header_subprotocol_and_compression_reach_the_handshake(
    cli: Runner, websockets_server: WebsocketsEchoServer
) -> None:
    url = f"{websockets_server.url}/headers"
    offered = cli("ws", url, "-q", "--once", "-H", "X-Token: t1", "-s", "chat", input="")
    assert offered.returncode == 0, offered.stderr
    headers = _sent_headers(offered.stdout)
    assert headers["x-token"] == "t1"
    assert headers["sec-websocket-protocol"] == "chat"
    assert "permessage-deflate" in headers["sec-websocket-extensions"]
    plain = cli("ws", url, "-q", "--once", "--compression", "none", input="")
    assert plain.returncode == 0, plain.stderr
    assert "sec-websocket-extensions" not in _sent_headers(plain.stdout)
