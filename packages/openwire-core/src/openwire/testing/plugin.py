"""The conformance suite's pytest plugin: engines × backends, peers, the matrix.

Run the suite against any installed engine (yours included)::

    pytest -p openwire.testing.plugin --pyargs openwire.testing.conformance \\
        --openwire-engine myengine

Without ``--openwire-engine`` every installed engine is tested. Each test runs
once per engine and per async backend: asyncio, asyncio on uvloop (when
uvloop is installed) and trio. A case an engine cannot meet is an *expected
failure* with its reason, never a skip:

- an engine whose capabilities do not list a backend is xfailed there
  (uvloop is an asyncio loop: an engine that runs on asyncio runs on it);
- a test marked ``requires_extension("permessage-deflate")`` is xfailed
  (not run) for an engine whose capabilities do not list that extension;
- an engine may declare ``conformance_xfail = {"test_name": "reason"}``;
  those tests are strict xfails, so fixing the engine turns them red until
  the declaration goes.

At the end, a matrix shows engines × RFC sections with pass/fail/xfail counts.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
from openwire.engines.registry import registry
from openwire.testing.h2peer import H2Peer, H2ScriptedServer
from openwire.testing.servers import (
    AiohttpEchoServer,
    BackgroundLoop,
    EchoServer,
    RawPeer,
    ScriptedServer,
)

__all__ = ["ConnectFactory"]


def _backends() -> tuple[str, ...]:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvloop does not build everywhere (Windows)
        return ("asyncio", "trio")
    return ("asyncio", "uvloop", "trio")


BACKENDS = _backends()
_results: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
_xfail_reasons: dict[tuple[str, str], int] = defaultdict(int)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("openwire")
    group.addoption(
        "--openwire-engine",
        action="append",
        default=[],
        help="engine name to run the conformance suite against (repeatable; default: all)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rfc(section): the RFC 6455 section a test pins, or another RFC's number"
    )
    config.addinivalue_line(
        "markers",
        "requires_extension(name): only for engines listing it in capabilities.extensions",
    )


def _engine_names(config: pytest.Config) -> list[str]:
    chosen: list[str] = config.getoption("--openwire-engine") or []
    return chosen or [info.name for info in registry.engines()]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", _engine_names(metafunc.config))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or "engine" not in callspec.params:
            continue
        name = callspec.params["engine"]
        backend = callspec.params.get("anyio_backend", "asyncio")
        if backend == "uvloop":
            backend = "asyncio"
        info = registry.get(name)
        if backend not in info.capabilities.backends:
            item.add_marker(
                pytest.mark.xfail(
                    reason=f"engine {name!r} runs on {', '.join(info.capabilities.backends)} "
                    f"only, not {backend}",
                    run=False,
                )
            )
            continue
        marker = item.get_closest_marker("requires_extension")
        if marker is not None and marker.args[0] not in info.capabilities.extensions:
            item.add_marker(
                pytest.mark.xfail(
                    reason=f"engine {name!r} does not implement {marker.args[0]} "
                    f"(capabilities.extensions: {list(info.capabilities.extensions)})",
                    run=False,
                )
            )
            continue
        deviations: dict[str, str] = getattr(info.engine, "conformance_xfail", {})
        test_name = getattr(item, "originalname", item.name)
        if test_name in deviations:
            item.add_marker(pytest.mark.xfail(reason=deviations[test_name], strict=True))


_sections: dict[str, str] = {}
_engine_of: dict[str, str] = {}


def pytest_itemcollected(item: pytest.Item) -> None:
    callspec = getattr(item, "callspec", None)
    if callspec is None or "engine" not in callspec.params:
        return
    marker = item.get_closest_marker("rfc")
    _sections[item.nodeid] = _section_label(marker.args[0]) if marker else "other"
    _engine_of[item.nodeid] = callspec.params["engine"]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    engine = _engine_of.get(report.nodeid)
    if engine is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if hasattr(report, "wasxfail"):
            outcome = "xfail"
            _xfail_reasons[(engine, str(report.wasxfail))] += 1
        else:
            outcome = "passed" if report.outcome == "passed" else "failed"
        _results[(engine, _sections[report.nodeid])][outcome] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _results:
        return
    engines = sorted({engine for engine, _ in _results})
    sections = sorted({section for _, section in _results}, key=_section_key)
    tr = terminalreporter
    tr.section("openwire conformance matrix (passed/failed/xfail)")
    width = max(12, *(len(e) + 2 for e in engines))
    tr.write_line("section".ljust(10) + "".join(e.ljust(width) for e in engines))
    for section in sections:
        cells = []
        for engine in engines:
            counts = _results.get((engine, section), {})
            cells.append(
                f"{counts.get('passed', 0)}/{counts.get('failed', 0)}/"
                f"{counts.get('xfail', 0)}".ljust(width)
            )
        tr.write_line(section.ljust(10) + "".join(cells))
    if _xfail_reasons:
        tr.write_line("")
        tr.write_line("expected failures, by engine and reason:")
        for (engine, reason), count in sorted(_xfail_reasons.items()):
            tr.write_line(f"  {engine}: {count} x {reason}")


def _section_label(section: str) -> str:
    """``"5.2"`` is a section of RFC 6455; a four-digit number is another RFC."""
    return f"RFC {section}" if len(section) == 4 and section.isdigit() else f"§{section}"


def _section_key(section: str) -> tuple[int, ...]:
    if section.startswith("RFC "):
        return (998, int(section[4:]))
    digits = section.lstrip("§").split(".")
    try:
        return tuple(int(d) for d in digits)
    except ValueError:
        return (999,)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> str | tuple[str, dict[str, Any]]:
    """Every async test runs on asyncio, on asyncio with uvloop's loop, and on trio."""
    if request.param == "uvloop":
        return ("asyncio", {"use_uvloop": True})
    return str(request.param)


@pytest.fixture(scope="session")
def ow_loop() -> Iterator[BackgroundLoop]:
    """The background asyncio loop that hosts every test peer."""
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session", params=["websockets-server", "aiohttp-server"])
def echo_server(
    ow_loop: BackgroundLoop, request: pytest.FixtureRequest
) -> Iterator[EchoServer | AiohttpEchoServer]:
    """A real echo server on 127.0.0.1: websockets' and aiohttp's, in turn."""
    server = (
        EchoServer(ow_loop) if request.param == "websockets-server" else AiohttpEchoServer(ow_loop)
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["websockets-server", "aiohttp-server"])
def deflate_echo_server(
    ow_loop: BackgroundLoop, request: pytest.FixtureRequest
) -> Iterator[EchoServer | AiohttpEchoServer]:
    """The echo servers of :func:`echo_server`, accepting permessage-deflate."""
    server = (
        EchoServer(ow_loop, compression="deflate")
        if request.param == "websockets-server"
        else AiohttpEchoServer(ow_loop, compress=True)
    ).start()
    yield server
    server.stop()


@pytest.fixture
def scripted(ow_loop: BackgroundLoop) -> Iterator[Callable[..., ScriptedServer]]:
    """``scripted(script)`` starts a raw server that plays ``script(peer)`` per connection."""
    servers: list[ScriptedServer] = []

    def start(script: Callable[[RawPeer], Awaitable[None]]) -> ScriptedServer:
        server = ScriptedServer(ow_loop, script).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def h2_scripted(ow_loop: BackgroundLoop) -> Iterator[Callable[..., H2ScriptedServer]]:
    """``h2_scripted(script)``: :func:`scripted` over prior-knowledge HTTP/2 (RFC 8441).

    Connect to its ``url`` with ``http_version="2"``.
    """
    servers: list[H2ScriptedServer] = []

    def start(script: Callable[[H2Peer], Awaitable[None]]) -> H2ScriptedServer:
        server = H2ScriptedServer(ow_loop, script).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=["1.1", "2"])
def http_version(request: pytest.FixtureRequest) -> str:
    """The HTTP version a WebSocket runs on, for tests where the protocols differ."""
    return str(request.param)


@pytest.fixture
def any_scripted(
    http_version: str,
    scripted: Callable[..., ScriptedServer],
    h2_scripted: Callable[..., H2ScriptedServer],
) -> Callable[..., ScriptedServer | H2ScriptedServer]:
    """``any_scripted(script)``: the scripted peer of :func:`http_version` (same script API)."""
    return scripted if http_version == "1.1" else h2_scripted


ConnectFactory = Callable[..., contextlib.AbstractAsyncContextManager[Any]]


@pytest.fixture
def connect(engine: str) -> ConnectFactory:
    """``async with connect(url, **options) as ws``: a client and a WebSocket on ``engine``.

    The WebSocket is *not* closed on exit (tests decide); the client is.
    """
    from openwire.client import Client

    @contextlib.asynccontextmanager
    async def open_ws(
        url: str, client_options: dict[str, Any] | None = None, **options: Any
    ) -> AsyncIterator[Any]:
        options.setdefault("ping_interval", None)
        async with Client(**(client_options or {})) as client:
            ws = await client.new_websocket(url, engine=engine, **options).execute()
            try:
                yield ws
            finally:
                # Tests that left it open get a normal close, bounded in time.
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await ws.close()

    return open_ws
