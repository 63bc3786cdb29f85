"""Engine discovery through real entry points: selection, errors, isolation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from openwire import Client
from openwire.engines.registry import ENV_VAR, EngineRegistry, registry
from openwire.errors import EngineNotFound, EngineUnavailable, PluginConflict
from openwire.testing.servers import EchoServer, ScriptedServer

from tests.plugins.conftest import ROOT, install, make_project

ISOLATED = "openwire-isolated-test"

ENGINE_MODULE = """
from openwire.engines import hookimpl
from openwire.engines.native import NativeEngine


class {cls}(NativeEngine):
    name = "{name}"


@hookimpl
def openwire_websocket_engines():
    return [{cls}()]
"""


def test_installed_adapters_are_discovered_with_their_distribution() -> None:
    infos = {info.name: info for info in registry.engines()}
    assert {"native", "wsproto", "websockets", "aiohttp"} <= set(infos)
    assert infos["native"].distribution == "openwire-core"
    assert infos["wsproto"].distribution == "openwire-wsproto"
    assert infos["aiohttp"].capabilities.backends == ("asyncio",)
    assert "trio" in infos["native"].capabilities.backends


def test_selection_precedence_call_then_client_then_env_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert registry.select(None, None) == ("native", "default")
    monkeypatch.setenv(ENV_VAR, "wsproto")
    assert registry.select(None, None)[0] == "wsproto"
    assert registry.select(None, "aiohttp")[0] == "aiohttp"
    assert registry.select("websockets", "aiohttp")[0] == "websockets"


@pytest.mark.anyio
async def test_engine_chosen_by_env_client_and_call_end_to_end(
    monkeypatch: pytest.MonkeyPatch, ow_loop: object, echo_server: EchoServer
) -> None:
    monkeypatch.setenv(ENV_VAR, "wsproto")
    async with Client() as client:
        async with client.websocket(echo_server.url) as ws:
            assert ws.engine == "wsproto"
        async with client.websocket(echo_server.url, engine="websockets") as ws:
            assert ws.engine == "websockets"
    async with Client(websocket_engine="native") as client:
        async with client.websocket(echo_server.url) as ws:
            assert ws.engine == "native"
            await ws.send("via native")
            assert (await ws.receive()).data == "via native"


def test_unknown_engine_lists_installed_engines() -> None:
    with pytest.raises(EngineNotFound) as info:
        registry.get("nonesuch")
    assert "nonesuch" in str(info.value)
    assert "native" in info.value.available
    assert "native" in str(info.value)


def test_known_adapter_that_is_not_installed_names_the_pip_line(
    tmp_path: Path, installed: Callable[..., Path]
) -> None:
    only_native = make_project(
        tmp_path,
        "only-native",
        {"native": "openwire.engines.native"},
        {"only_native_marker.__init__": ""},
        group=ISOLATED,
    )
    installed(only_native)
    isolated = EngineRegistry(group=ISOLATED)
    assert [info.name for info in isolated.engines()] == ["native"]
    with pytest.raises(EngineNotFound, match="pip install openwire-aiohttp"):
        isolated.get("aiohttp")


def test_a_broken_plugin_is_reported_and_does_not_stop_the_others(
    tmp_path: Path, installed: Callable[..., Path]
) -> None:
    good = make_project(
        tmp_path,
        "good-engine",
        {"good": "good_engine"},
        {"good_engine.__init__": ENGINE_MODULE.format(cls="Good", name="good")},
        group=ISOLATED,
    )
    broken = make_project(
        tmp_path,
        "broken-engine",
        {"broken_import": "broken_engine.missing_module", "raising": "broken_engine.raising"},
        {
            "broken_engine.__init__": "",
            "broken_engine.raising": """
                from openwire.engines import hookimpl

                @hookimpl
                def openwire_websocket_engines():
                    raise RuntimeError("engine exploded")
            """,
        },
        group=ISOLATED,
    )
    installed(good, broken)
    isolated = EngineRegistry(group=ISOLATED)
    assert [info.name for info in isolated.engines()] == ["good"]
    failures = {f.plugin: f for f in isolated.failures()}
    assert set(failures) == {"broken_import", "raising"}
    assert failures["raising"].distribution == "broken-engine"
    assert failures["raising"].version == "1.2.3"
    assert "engine exploded" in failures["raising"].error
    assert "import failed" in failures["broken_import"].error
    with pytest.raises(EngineNotFound, match="broken"):
        isolated.get("raising")


def test_two_plugins_claiming_one_name_is_an_error_naming_both(
    tmp_path: Path, installed: Callable[..., Path]
) -> None:
    first = make_project(
        tmp_path,
        "dup-one",
        {"dup": "dup_one"},
        {"dup_one.__init__": ENGINE_MODULE.format(cls="One", name="dup")},
        group=ISOLATED,
    )
    second = make_project(
        tmp_path,
        "dup-two",
        {"dup": "dup_two"},
        {"dup_two.__init__": ENGINE_MODULE.format(cls="Two", name="dup")},
        group=ISOLATED,
    )
    installed(first, second)
    isolated = EngineRegistry(group=ISOLATED)
    with pytest.raises(PluginConflict) as info:
        isolated.get("dup")
    assert "dup-one 1.2.3" in str(info.value)
    assert "dup-two 1.2.3" in str(info.value)
    assert "dup" not in [i.name for i in isolated.engines()]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_asyncio_only_engine_refuses_on_trio_before_connecting(
    anyio_backend: str, ow_loop: object
) -> None:
    async def script(peer: object) -> None:
        raise AssertionError("no connection may be made")

    server = ScriptedServer(ow_loop, script).start()  # type: ignore[arg-type]
    try:
        async with Client() as client:
            with pytest.raises(EngineUnavailable, match="asyncio"):
                await client.new_websocket(server.url, engine="aiohttp").execute()
        assert server.peers == []
    finally:
        server.stop()


def test_third_party_engine_from_pip_install_to_a_working_websocket(tmp_path: Path) -> None:
    """The example package, installed for real, selected by name, in a fresh process."""
    target = install(tmp_path / "site", ROOT / "examples" / "third-party-engine")
    script = textwrap.dedent(
        """
        import json, anyio
        from openwire import Client, engines
        from openwire.testing.servers import BackgroundLoop, EchoServer
        from openwire_recording import RecordingEngine

        server = EchoServer(BackgroundLoop()).start()

        async def main():
            async with Client(websocket_engine="recording") as client:
                async with client.websocket(server.url) as ws:
                    await ws.send("counted")
                    reply = (await ws.receive()).data
            info = engines.get("recording")
            print(json.dumps({"engine": ws.engine, "reply": reply,
                              "dist": info.distribution,
                              "counts": dict(RecordingEngine.totals)}))

        anyio.run(main)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["engine"] == "recording"
    assert report["reply"] == "counted"
    assert report["dist"] == "openwire-recording-engine"
    assert report["counts"]["out_text"] == 1
    assert report["counts"]["in_text"] == 1
    assert report["counts"]["out_close"] == 1


def test_the_default_engine_opens_without_importing_the_other_engines_libraries() -> None:
    """Selecting one engine imports that plugin only: aiohttp alone takes ~0.4 s, on the loop."""
    script = textwrap.dedent(
        """
        import json, sys, anyio
        from openwire import Client, engines
        from openwire.testing.servers import BackgroundLoop, EchoServer

        server = EchoServer(BackgroundLoop()).start()
        before = {m for m in ("aiohttp", "wsproto", "openwire_aiohttp") if m in sys.modules}

        async def main():
            async with Client() as client, client.websocket(server.url) as ws:
                await ws.send("x")
                await ws.receive()
            opened = [m for m in ("aiohttp", "openwire_aiohttp", "openwire_wsproto")
                      if m in sys.modules]
            listed = sorted(info.name for info in engines.engines())
            print(json.dumps({"before": sorted(before), "opened": opened, "listed": listed}))

        anyio.run(main)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] == []
    assert report["opened"] == []
    # A listing still finds every installed engine.
    assert {"native", "wsproto", "websockets", "aiohttp"} <= set(report["listed"])


def test_an_engine_for_another_contract_version_is_refused_naming_both_versions() -> None:
    """An engine written for contract version 1 (no api_version) is listed as broken, not run."""
    import types

    from openwire.engines import hookimpl
    from openwire.engines.contract import ENGINE_API_VERSION
    from openwire.engines.native import NativeEngine

    class OldEngine:
        name = "old-style"
        capabilities = NativeEngine.capabilities

    class FutureEngine(NativeEngine):
        api_version = ENGINE_API_VERSION + 1
        name = "future-style"

    module = types.ModuleType("old_plugin")

    @hookimpl
    def openwire_websocket_engines() -> list[object]:
        return [OldEngine(), FutureEngine()]

    module.openwire_websocket_engines = openwire_websocket_engines  # type: ignore[attr-defined]
    local = EngineRegistry(group="openwire-test-no-entry-points")
    local.register_module(module, "old", distribution="old-dist", version="1.0")
    assert local.engines() == []
    with pytest.raises(EngineUnavailable) as info:
        local.get("old-style")
    message = str(info.value)
    assert "version 1" in message and f"version {ENGINE_API_VERSION}" in message
    assert "old-dist 1.0" in message
    with pytest.raises(EngineUnavailable, match=f"version {ENGINE_API_VERSION + 1}"):
        local.get("future-style")
    failures = local.failures()
    assert [f.distribution for f in failures] == ["old-dist", "old-dist"]
    assert "contract" in failures[0].error


@pytest.mark.anyio
async def test_a_frame_engine_that_raises_fails_the_connection_with_1011(
    monkeypatch: pytest.MonkeyPatch, ow_loop: object, echo_server: EchoServer
) -> None:
    """A bug in an engine's parser is mapped once, by the session: 1011, naming the engine."""
    import types

    from openwire.engines import hookimpl
    from openwire.errors import ConnectionClosedError
    from openwire_wsproto import WsprotoConnection, WsprotoEngine

    class BuggyConnection(WsprotoConnection):
        def receive_frames(self, data: bytes, /) -> list[object]:  # type: ignore[override]
            raise RuntimeError("parser bug")

    class BuggyEngine(WsprotoEngine):
        name = "buggy-frames"

        def connect(self, settings: object) -> BuggyConnection:  # type: ignore[override]
            return BuggyConnection(False)

    module = types.ModuleType("buggy_plugin")

    @hookimpl
    def openwire_websocket_engines() -> list[object]:
        return [BuggyEngine()]

    module.openwire_websocket_engines = openwire_websocket_engines  # type: ignore[attr-defined]
    # A registry of its own, so the buggy engine never reaches other tests.
    local = EngineRegistry()
    local.register_module(module, "buggy-frames")
    monkeypatch.setattr("openwire.websocket.call.registry", local)
    async with Client() as client:
        async with client.websocket(echo_server.url, engine="buggy-frames") as ws:
            await ws.send("boom")
            with pytest.raises(ConnectionClosedError) as info:
                await ws.receive()
    assert info.value.code == 1011
    assert "buggy-frames" in str(info.value) and "parser bug" in str(info.value)
