"""Every engine, on every backend, against the Autobahn|Testsuite fuzzing server.

The client side of the suite is an echo: for each case the client connects
to ``/runCase?case=N&agent=A``, sends back every message it receives, and
the server judges what went over the wire (what was echoed, with which close
code, how fast a violation failed the connection). ``/updateReports`` then
writes the verdicts, which this test reads back. A case passes when its
behaviour is ``OK``, ``NON-STRICT`` or ``INFORMATIONAL`` and its closing
behaviour ``OK`` or ``INFORMATIONAL``, the same bar the suite's own summary
applies. ``NON-STRICT`` is what a client earns when a valid message and a
violation arrive in the same read: openwire fails the connection at once
(RFC 6455 §7.1.7) and keeps the valid message for the application, so its
echo never leaves.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from openwire import Client, WebSocketError

from tests.autobahn.conftest import FuzzingServer

pytestmark = [pytest.mark.anyio]

MiB = 1 << 20
OPTIONS: dict[str, Any] = {
    # 9.1.6 and 9.2.6 are 16 MiB messages; the limits sit above them.
    "max_message_size": 64 * MiB,
    "max_frame_size": 64 * MiB,
    "receive_queue_bytes": 64 * MiB,
    "ping_interval": None,
    "close_timeout": 5,
}
CASE_TIMEOUT = 60.0
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}
PASSING_CLOSE = {"OK", "INFORMATIONAL"}


def _backend_name(anyio_backend: Any) -> str:
    if isinstance(anyio_backend, tuple):
        name, options = anyio_backend
        return "uvloop" if options.get("use_uvloop") else str(name)
    return str(anyio_backend)


async def _echo_case(client: Client, url: str, engine: str) -> None:
    async with client.websocket(url, engine=engine, **OPTIONS) as ws:
        while True:
            message = await ws.receive()
            await ws.send(message.data)


async def _run_all_cases(server: FuzzingServer, engine: str, agent: str) -> list[str]:
    """Run every case the server has for ``agent``; the cases the client itself broke on."""
    broken: list[str] = []
    async with Client() as client:
        async with client.websocket(f"{server.url}/getCaseCount", engine=engine, **OPTIONS) as ws:
            count = int((await ws.receive()).data)
        for case in range(1, count + 1):
            url = f"{server.url}/runCase?case={case}&agent={agent}"
            try:
                with anyio.fail_after(CASE_TIMEOUT):
                    await _echo_case(client, url, engine)
            except WebSocketError:
                pass  # the server closed, cleanly or not: its verdict says which was right
            except TimeoutError:
                broken.append(f"case #{case}: no close within {CASE_TIMEOUT:.0f} s")
        async with client.websocket(
            f"{server.url}/updateReports?agent={agent}", engine=engine, **OPTIONS
        ):
            pass
    return broken


def _failures(server: FuzzingServer, agent: str) -> list[str]:
    failures = []
    for case, verdict in server.results(agent).items():
        if verdict["behavior"] in PASSING and verdict["behaviorClose"] in PASSING_CLOSE:
            continue
        failures.append(
            f"{case}: behavior {verdict['behavior']}, close {verdict['behaviorClose']} "
            f"(report: {server.reports / str(verdict['reportfile'])})"
        )
    return sorted(failures)


async def _check(server: FuzzingServer, engine: str, anyio_backend: Any) -> None:
    agent = f"openwire-{engine}-{_backend_name(anyio_backend)}"
    broken = await _run_all_cases(server, engine, agent)
    failures = _failures(server, agent)
    assert not broken and not failures, "\n".join(
        [f"Autobahn cases failed for {agent}:", *broken, *failures]
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_autobahn_quick_cases(
    engine: str, anyio_backend: Any, fuzzing_server: FuzzingServer
) -> None:
    await _check(fuzzing_server, engine, anyio_backend)


@pytest.mark.soak
@pytest.mark.timeout(3600)
async def test_autobahn_all_cases(
    engine: str, anyio_backend: Any, fuzzing_server_all: FuzzingServer
) -> None:
    await _check(fuzzing_server_all, engine, anyio_backend)
