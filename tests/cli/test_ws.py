"""``openwire ws`` with piped stdin, in a subprocess and in-process."""

from __future__ import annotations

import importlib.util
import socket

import pytest
from openwire.cli.demo_server import EchoServer as DemoEchoServer
from openwire.testing.servers import EchoServer as WebsocketsEchoServer

from tests.cli.conftest import Runner, run_cli


def test_once_sends_stdin_and_prints_the_reply(demo_server: DemoEchoServer) -> None:
    result = run_cli("ws", demo_server.url, "--once", input="hi\n")
    assert result.returncode == 0, result.stderr
    received = [line for line in result.stdout.splitlines() if line.startswith("<")]
    assert len(received) == 1
    assert received[0].endswith("text 2 B hi")
    assert "closed normally with 1000" in result.stderr


def test_once_against_a_websockets_server(
    cli: Runner, websockets_server: WebsocketsEchoServer
) -> None:
    result = cli("ws", websockets_server.url, "--once", input="hello\n")
    assert result.returncode == 0, result.stderr
    assert "< " in result.stdout
    assert "text 5 B hello" in result.stdout


def test_server_close_with_4001_exits_non_zero_with_code_and_reason(
    websockets_server: WebsocketsEchoServer,
) -> None:
    url = f"{websockets_server.url}/close?code=4001&reason=go-away"
    result = run_cli("ws", url, "--once", input="hi\n")
    assert result.returncode == 1
    assert "4001" in result.stderr
    assert "go-away" in result.stderr


def test_demo_server_close_path_too(cli: Runner, demo_server: DemoEchoServer) -> None:
    result = cli("ws", f"{demo_server.url}/close?code=4001&reason=bye", input="")
    assert result.returncode == 1
    assert "code 4001 (bye)" in result.stderr


def test_eof_closes_normally_after_replies(cli: Runner, demo_server: DemoEchoServer) -> None:
    # The grace is a fixed wait after EOF: long enough for the echoes on a
    # machine busy with the rest of the suite (0.3 s was not, under CI load).
    result = cli("ws", demo_server.url, "--grace", "2", input="one\ntwo\nthree")
    assert result.returncode == 0, result.stderr
    received = [line.rsplit(" ", 1)[-1] for line in result.stdout.splitlines() if line[0] == "<"]
    assert received == ["one", "two", "three"]
    assert "closed normally with 1000" in result.stderr


def test_json_pretty_prints_and_refuses_invalid_lines(
    cli: Runner, demo_server: DemoEchoServer
) -> None:
    result = cli("ws", demo_server.url, "--json", "--once", input='not json\n{"a": [1, 2]}\n')
    assert result.returncode == 1  # the valid line went out; the run still failed
    assert "invalid JSON" in result.stderr
    assert "not json" not in result.stdout
    assert '{\n  "a": [\n    1,\n    2\n  ]\n}' in result.stdout
    valid = cli("ws", demo_server.url, "--json", "--once", input='{"a": 1}\n')
    assert valid.returncode == 0, valid.stderr


def test_binary_sends_bytes(cli: Runner, demo_server: DemoEchoServer) -> None:
    result = cli("ws", demo_server.url, "--binary", "--once", input="abc\n")
    assert result.returncode == 0, result.stderr
    assert "binary 3 B abc" in result.stdout


def test_quiet_prints_payloads_only(cli: Runner, demo_server: DemoEchoServer) -> None:
    result = cli("ws", demo_server.url, "-q", "--once", input="just this\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "just this\n"


def test_headers_and_subprotocol_reach_the_server(
    cli: Runner,
    websockets_server: WebsocketsEchoServer,
) -> None:
    result = cli(
        "ws",
        f"{websockets_server.url}/headers",
        "-H",
        "X-Demo: 42",
        "--subprotocol",
        "superchat",
        "--once",
    )
    assert result.returncode == 0, result.stderr
    assert "X-Demo: 42" in result.stdout
    assert "subprotocol superchat" in result.stderr


def test_events_show_the_lifecycle(cli: Runner, demo_server: DemoEchoServer) -> None:
    result = cli("ws", demo_server.url, "--events", "--once", input="x\n")
    assert result.returncode == 0, result.stderr
    for event in (
        "call_start",
        "connect_end",
        "websocket_open",
        "websocket_message_sent",
        "websocket_message_received",
        "websocket_closed",
    ):
        assert event in result.stderr
    assert "websocket_open" not in result.stdout


def test_connection_refused_exits_1(cli: Runner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = cli("ws", f"ws://127.0.0.1:{port}/", input="")
    assert result.returncode == 1
    assert "could not connect" in result.stderr


def test_unknown_engine_is_refused_before_connecting(
    cli: Runner, demo_server: DemoEchoServer
) -> None:
    result = cli("ws", demo_server.url, "--engine", "no-such-engine", input="")
    assert result.returncode == 2  # a usage error, not a connection failure
    assert "could not connect" not in result.stderr
    assert "no WebSocket engine named 'no-such-engine'" in result.stderr


def test_bad_header_is_a_usage_error(cli: Runner, demo_server: DemoEchoServer) -> None:
    result = cli("ws", demo_server.url, "-H", "nocolon", input="")
    assert result.returncode == 2
    assert "Name: value" in result.stderr


@pytest.mark.skipif(importlib.util.find_spec("trio") is None, reason="trio not installed")
def test_runs_on_trio(cli: Runner, demo_server: DemoEchoServer) -> None:
    result = cli("ws", demo_server.url, "--trio", "--once", input="on trio\n")
    assert result.returncode == 0, result.stderr
    assert "text 7 B on trio" in result.stdout


def test_once_timeout_gives_up_without_a_reply(
    cli: Runner, websockets_server: WebsocketsEchoServer
) -> None:
    # Empty stdin: nothing to echo, so nothing ever arrives.
    result = cli("ws", f"{websockets_server.url}/", "--once", "--timeout", "0.3", input="")
    assert result.returncode == 1
    assert "--timeout" in result.stderr
    assert "closed with 1000" in result.stderr


def test_missing_cacert_is_a_usage_error(cli: Runner, demo_server: DemoEchoServer) -> None:
    result = cli("ws", demo_server.url, "--cacert", "/nonexistent/ca.pem", input="")
    assert result.returncode == 2
    assert "--cacert" in result.stderr
