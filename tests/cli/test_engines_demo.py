"""``openwire engines`` and ``openwire demo``, the README's first commands."""

from __future__ import annotations

import json

from tests.cli.conftest import Runner, run_cli


def test_engines_lists_native_as_the_default() -> None:
    result = run_cli("engines")
    assert result.returncode == 0, result.stderr
    native = next(line for line in result.stdout.splitlines() if " native " in f"{line} ")
    assert native.startswith("*")
    assert "openwire-core" in native
    assert "asyncio, trio" in native
    assert "selected: native (default)" in result.stdout


def test_engines_json_and_environment_selection(cli: Runner) -> None:
    result = cli("engines", "--json", env={"OPENWIRE_WEBSOCKET_ENGINE": "native"})
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    names = [engine["name"] for engine in document["engines"]]
    assert "native" in names
    assert document["selected"]["name"] == "native"
    assert "OPENWIRE_WEBSOCKET_ENGINE" in document["selected"]["why"]
    assert document["failures"] == []


def test_engines_reports_an_unusable_selection(cli: Runner) -> None:
    result = cli("engines", env={"OPENWIRE_WEBSOCKET_ENGINE": "missing-engine"})
    assert result.returncode == 1
    assert "selected: missing-engine (environment" in result.stdout
    assert "not usable" in result.stdout


def test_demo_passes_for_every_engine() -> None:
    result = run_cli("demo", timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
    assert rows[0][:3] == ["native", "asyncio", "ok"] or any(
        row[:3] == ["native", "asyncio", "ok"] for row in rows
    )
    assert all(row[2] == "ok" for row in rows if row[1] in ("asyncio", "uvloop", "trio"))
    for backend in ("asyncio", "uvloop", "trio"):
        assert ["native", backend, "ok"] in [row[:3] for row in rows], backend
    assert "runs passed" in result.stderr


def test_python_m_openwire_cli_and_help(cli: Runner) -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("openwire ")
    bare = cli()
    assert bare.returncode == 2
    assert "ws" in bare.stderr and "demo" in bare.stderr
