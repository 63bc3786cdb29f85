"""``openwire get`` against a small local HTTP server."""

from __future__ import annotations

import json

from tests.cli.conftest import Runner, run_cli


def test_get_prints_the_body(cli: Runner, http_url: str) -> None:
    result = cli("get", f"{http_url}/hello", "-H", "X-Asked: please")
    assert result.returncode == 0, result.stderr
    sent = json.loads(result.stdout)
    assert sent["x-asked"] == "please"
    assert sent["user-agent"].startswith("openwire/")


def test_include_shows_status_and_headers(http_url: str) -> None:
    result = run_cli("get", "-i", f"{http_url}/hello")
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition("\n\n")
    assert head.splitlines()[0].endswith("200 OK")
    assert "X-Test: yes" in head
    assert json.loads(body)


def test_data_makes_a_post(cli: Runner, http_url: str) -> None:
    result = cli("get", f"{http_url}/echo", "-d", "payload")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "POST payload"


def test_method_and_data_from_stdin(cli: Runner, http_url: str) -> None:
    result = cli("get", "-X", "PUT", f"{http_url}/echo", "-d", "@-", input="from stdin")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "PUT from stdin"


def test_error_status_exits_0_unless_fail(cli: Runner, http_url: str) -> None:
    assert cli("get", f"{http_url}/missing").returncode == 0
    failed = cli("get", "--fail", f"{http_url}/missing")
    assert failed.returncode == 1
    assert "404" in failed.stderr


def test_events_on_http(cli: Runner, http_url: str) -> None:
    result = cli("get", "--events", f"{http_url}/hello")
    assert result.returncode == 0, result.stderr
    for event in ("call_start", "response_headers_end 200 OK", "call_end"):
        assert event in result.stderr


def test_unreachable_host_exits_1(cli: Runner) -> None:
    result = cli("get", "http://127.0.0.1:1/")
    assert result.returncode == 1
    assert "ConnectError" in result.stderr
