"""The private names the core takes from httpcore and anyio still exist, with the shapes used.

``openwire/_compat.py`` holds every one of them, and ``pyproject.toml`` bounds
both packages to the releases they were checked against. These tests fail
with the package and its installed version when an upstream release moves
or changes a name, so raising a bound is a deliberate decision. (The
adapters' own private names are checked in ``tests/engines/test_compat.py``.)
"""

from __future__ import annotations

import importlib
import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path

import anyio
import httpcore
import pytest
from openwire import _compat
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ADVICE = "update openwire/_compat.py and the bound in packages/openwire-core/pyproject.toml"
PYPROJECT = Path(__file__).parent.parent / "packages" / "openwire-core" / "pyproject.toml"


def _declared(distribution: str) -> SpecifierSet:
    for line in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == distribution:
            return requirement.specifier
    raise AssertionError(f"{distribution} is not declared in {PYPROJECT}")


@pytest.mark.parametrize(
    ("distribution", "module", "name", "attributes"),
    _compat.PRIVATE_NAMES,
    ids=[f"{module}.{name}" for _, module, name, _ in _compat.PRIVATE_NAMES],
)
def test_private_names_exist_with_the_attributes_relied_on(
    distribution: str, module: str, name: str, attributes: tuple[str, ...]
) -> None:
    installed = version(distribution)
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(
            f"{distribution} {installed} no longer provides {module}.{name} ({exc}); {ADVICE}"
        )
    missing = [attribute for attribute in attributes if not hasattr(found, attribute)]
    assert not missing, (
        f"{distribution} {installed}: {module}.{name} has no {', '.join(missing)}; {ADVICE}"
    )


def test_the_fast_paths_are_enabled() -> None:
    assert _compat.FAST_ANYIO, (
        f"openwire._compat could not import its private names (httpcore "
        f"{version('httpcore')}, anyio {version('anyio')}): trio connections take the slow "
        f"path; {ADVICE}"
    )


@pytest.mark.parametrize(
    ("distribution", "supported"),
    [
        ("httpcore", _compat.HTTPCORE_SUPPORTED),
        ("anyio", _compat.ANYIO_SUPPORTED),
        ("h2", _compat.H2_SUPPORTED),
    ],
)
def test_installed_version_is_within_the_bound_checked(distribution: str, supported: str) -> None:
    installed = version(distribution)
    assert installed in SpecifierSet(supported), (
        f"{distribution} {installed} is outside {supported}, the releases openwire/_compat.py "
        f"was checked against; {ADVICE}"
    )
    assert _declared(distribution) == SpecifierSet(supported), (
        f"pyproject.toml declares {distribution}{_declared(distribution)} but "
        f"openwire/_compat.py was checked against {supported}; keep them in step"
    )


def test_httpcore_anyio_stream_keeps_the_anyio_stream_in_private_stream() -> None:
    # The trio channel reads and writes the anyio stream inside httpcore's
    # (_stream); if httpcore renames it, anyio_stream_inside must not
    # silently return something else.
    send, receive = anyio.create_memory_object_stream[bytes](1)
    inner = anyio.streams.stapled.StapledObjectStream(send, receive)
    wrapped = _compat.httpcore_stream_over(inner)  # type: ignore[arg-type]
    assert _compat.anyio_stream_inside(wrapped) is inner, (
        f"httpcore {version('httpcore')} no longer keeps the anyio stream in "
        f"AnyIOStream._stream; {ADVICE}"
    )
    assert _compat.anyio_stream_inside(object()) is None
    send.close()
    receive.close()


def test_anyio_backend_connect_tcp_takes_host_port_and_local_address() -> None:
    from anyio._core._eventloop import get_async_backend

    backend = get_async_backend("asyncio")
    parameters = list(inspect.signature(backend.connect_tcp).parameters)
    assert parameters[:3] == ["host", "port", "local_address"], (
        f"anyio {version('anyio')}: AsyncBackend.connect_tcp takes {parameters}, "
        f"openwire/_compat.py calls it as (host, port, None); {ADVICE}"
    )


def test_h2_connection_keeps_its_state_machine_where_openwire_reopens_it() -> None:
    import h2.config
    import h2.connection

    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    machine = getattr(connection, "state_machine", None)
    assert machine is not None and hasattr(machine, "state"), (
        f"h2 {version('h2')} has no H2Connection.state_machine.state: a graceful GOAWAY "
        f"would fail the HTTP/2 streams it should let finish; {ADVICE}"
    )
    machine.state = h2.connection.ConnectionState.CLOSED
    _compat.h2_reopen_after_goaway(connection)
    assert machine.state is h2.connection.ConnectionState.CLIENT_OPEN


def test_asyncio_tls_protocol_keeps_the_read_buffer_openwire_shrinks() -> None:
    import asyncio
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async def check() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context)
        try:
            shrunk = _compat.shrink_tls_read_buffer(writer.transport, 34 * 1024)
            assert shrunk, (
                "asyncio's TLS protocol no longer keeps its receive buffer in _ssl_buffer: "
                "idle wss connections on asyncio cost 256 KiB each again; " + ADVICE
            )
            protocol = writer.transport._ssl_protocol  # type: ignore[attr-defined]
            assert len(protocol.get_buffer(-1)) <= 34 * 1024
        finally:
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()

    asyncio.run(check())


def test_an_httpcore_response_with_bytes_past_its_end_names_its_connection() -> None:
    # transport._Exchange closes such a connection instead of pooling it (RFC
    # 9112 §6.3); if httpcore moves the names this relies on, the check would
    # quietly find nothing: this fails instead.
    async def leftover(after: bytes) -> object:
        backend = httpcore.AsyncMockBackend(
            [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + after]
        )
        async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
            response = await pool.request("GET", "http://example.com/")
            assert response.content == b"hello"
            return _compat.http11_connection_with_leftover(response.stream)

    found = anyio.run(leftover, b"HTTP/1.1 200 OK\r\n")
    assert found is not None and hasattr(found, "aclose"), (
        f"httpcore {version('httpcore')} no longer keeps bytes received past a response "
        f"where openwire._compat.http11_connection_with_leftover looks; {ADVICE}"
    )
    assert anyio.run(leftover, b"") is None
