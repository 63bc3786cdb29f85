"""Reconnecting as a policy: ``async for ws in client.websocket_reconnecting(url)``.

Every test talks to a real server on 127.0.0.1: a websockets server that is
stopped and restarted on the same port, or the scripted raw server playing one
script per connection (drops, closes with a code, handshake answers). Delays
are milliseconds, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from email.utils import formatdate
from typing import Any

import anyio
import pytest
import trustme
from openwire import (
    AuthenticationFailed,
    Client,
    ConnectError,
    ConnectionClosed,
    ConnectionClosedError,
    HandshakeTimeout,
    ReconnectGaveUp,
    ReconnectingWebSocket,
    ReconnectPolicy,
    State,
    TLSError,
    UnexpectedStatus,
    WebSocket,
)
from openwire.testing.frames import close_payload
from openwire.testing.servers import BackgroundLoop, RawPeer, ScriptedServer
from openwire.websocket.reconnect import RETRY_CODES, retry_after

from tests.http_peers import Recorder, free_port

pytestmark = pytest.mark.anyio

FAST = {"base_delay": 0.001, "max_delay": 0.004}
Script = Callable[[RawPeer], Awaitable[None]]

# ------------------------------------------------------------------ helpers


def close_with(code: int) -> Script:
    """Accept, close at once with ``code``, wait for the client's answer."""

    async def play(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send_frame(0x8, close_payload(code))
        await peer.read_until_close()

    return play


async def drop(peer: RawPeer) -> None:
    """Accept, then end TCP without a Close: the client sees 1006."""
    await peer.handshake()


def answer(status: str, *headers: tuple[str, str]) -> Script:
    async def play(peer: RawPeer) -> None:
        await peer.handshake(status=status, headers=list(headers), body=b"not now")

    return play


async def echo_until_close(peer: RawPeer) -> None:
    """Accept, wait for the client's Close (kept in peer.frames) and answer it."""
    await peer.handshake()
    got = await peer.read_until_close(timeout=10)
    if got is not None:
        await peer.send_frame(0x8, got.payload)


@pytest.fixture
def plan(ow_loop: BackgroundLoop) -> Iterator[Callable[..., ScriptedServer]]:
    """``plan(script, script, ...)``: a raw server playing one script per connection.

    The last script repeats for any further connection.
    """
    servers: list[ScriptedServer] = []

    def start(*scripts: Script) -> ScriptedServer:
        queue = list(scripts)

        async def play(peer: RawPeer) -> None:
            script = queue.pop(0) if len(queue) > 1 else queue[0]
            await script(peer)

        server = ScriptedServer(ow_loop, play).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def loop_recorder(recorders: list[Recorder]) -> Recorder:
    """The one listener that saw the loop's events."""
    loops = [r for r in recorders if any(n.startswith("websocket_reconnect") for n in r.names)]
    assert len(loops) == 1
    return loops[0]


def scheduled(recorder: Recorder) -> list[tuple[Any, ...]]:
    return [args for name, args in recorder.events if name == "websocket_reconnect_scheduled"]


async def drain(connections: ReconnectingWebSocket) -> int:
    """Run the loop to its end, reading each connection until it ends; the count yielded."""
    yielded = 0
    async for ws in connections:
        yielded += 1
        await consume(ws)
    return yielded


async def consume(ws: WebSocket) -> None:
    """The usual body: read until the connection ends, whatever the code."""
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


# ------------------------------------------------------- a restarted server


class RestartableServer:
    """A websockets echo server that can be stopped and started again on its port."""

    def __init__(self, bg: BackgroundLoop) -> None:
        self._bg = bg
        self._server: Any = None
        self.port = 0
        self.received: list[str] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self._server is not None

    async def _handler(self, ws: Any) -> None:
        try:
            async for message in ws:
                self.received.append(message)
                await ws.send(message)
        except Exception:
            return

    def start(self) -> None:
        from websockets.asyncio.server import serve

        async def start() -> None:
            self._server = await serve(self._handler, "127.0.0.1", self.port, ping_interval=None)
            self.port = self._server.sockets[0].getsockname()[1]

        self._bg.run(start())

    def stop(self) -> None:
        """Close with 1001 (going away) and stop listening, as a server being restarted does."""

        async def stop() -> None:
            server, self._server = self._server, None
            if server is not None:
                server.close()
                await server.wait_closed()

        self._bg.run(stop())


async def test_reconnects_to_a_restarted_server_resubscribes_and_resets_the_backoff(
    ow_loop: BackgroundLoop,
    engine: str,
    recorders: list[Recorder],
    recorder_factory: Callable[[], Recorder],
) -> None:
    server = RestartableServer(ow_loop)
    server.start()
    causes, refused = anyio.create_memory_object_stream[BaseException](100)

    class Restart(Recorder):
        def websocket_reconnect_scheduled(
            self, attempt: int, delay: float, cause: BaseException
        ) -> None:
            super().websocket_reconnect_scheduled(attempt, delay, cause)
            causes.send_nowait(cause)

    def factory() -> Recorder:
        recorder = Restart()
        recorders.append(recorder)
        return recorder

    async def restart_when_refused() -> None:
        async with refused:
            async for cause in refused:
                if isinstance(cause, ConnectError) and not server.running:
                    await anyio.to_thread.run_sync(server.start)

    async def resubscribe(ws: WebSocket) -> None:
        await ws.send("subscribe")
        assert (await ws.receive()).data == "subscribe"

    policy = ReconnectPolicy(base_delay=0.002, max_delay=0.01, stable_after=0.05)
    seen = 0
    try:
        async with (
            Client(event_listener_factory=factory) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(restart_when_refused)
            with anyio.fail_after(15):
                async for ws in client.websocket_reconnecting(
                    server.url, policy=policy, on_connect=resubscribe, engine=engine
                ):
                    seen += 1
                    await ws.send(f"hello {seen}")
                    assert (await ws.receive()).data == f"hello {seen}"
                    if seen == 3:
                        break
                    await anyio.sleep(0.08)  # outlive stable_after: the next loss starts over
                    await anyio.to_thread.run_sync(server.stop)
                    await consume(ws)
                    assert ws.close_code == 1001
            tg.cancel_scope.cancel()
    finally:
        causes.close()
        await anyio.to_thread.run_sync(server.stop)
    assert server.received.count("subscribe") == 3
    loop = loop_recorder(recorders)
    attempts = [args[0] for args in scheduled(loop)]
    causes_seen = [args[2] for args in scheduled(loop)]
    # Each loss starts at attempt 1 (the connection before it was stable), with
    # the close as its cause; refused connects while the server is down follow.
    firsts = [i for i, attempt in enumerate(attempts) if attempt == 1]
    assert len(firsts) == 2
    for start in firsts:
        assert isinstance(causes_seen[start], ConnectionClosed)
        assert causes_seen[start].code == 1001
    assert attempts == [*range(1, firsts[1] + 1), *range(1, len(attempts) - firsts[1] + 1)]
    assert all(isinstance(c, ConnectError) for i, c in enumerate(causes_seen) if i not in firsts)
    connected = [args[0] for name, args in loop.events if name == "websocket_reconnect_connected"]
    assert connected[0] == 0
    assert len(connected) == 3
    # The loop's listener is its own: no call's events, and no loop events elsewhere.
    assert "call_start" not in loop.names
    assert loop.names[-1] == "websocket_reconnect_stopped"


# ---------------------------------------------------- closes the loop retries


async def test_drops_and_server_failures_are_retried_and_a_normal_close_ends_the_loop(
    plan: Callable[..., ScriptedServer],
    engine: str,
    recorders: list[Recorder],
    recorder_factory: Callable[[], Recorder],
) -> None:
    server = plan(drop, close_with(1011), close_with(1012), close_with(1013), close_with(1000))
    yielded = 0
    async with Client(event_listener_factory=recorder_factory) as client:
        with anyio.fail_after(10):
            async for ws in client.websocket_reconnecting(
                server.url, policy=ReconnectPolicy(**FAST), engine=engine
            ):
                yielded += 1
                await consume(ws)
    assert yielded == 5
    assert len(server.peers) == 5
    loop = loop_recorder(recorders)
    codes = [args[2].code for args in scheduled(loop)]
    assert codes == [1006, 1011, 1012, 1013]
    # Unstable connections (default stable_after 10 s) keep counting.
    assert [args[0] for args in scheduled(loop)] == [1, 2, 3, 4]
    assert loop.events[-1] == ("websocket_reconnect_stopped", (None,))
    await server.wait()


@pytest.mark.parametrize(
    ("code", "raises"),
    [
        (1000, False),
        (3001, False),
        (4000, False),
        (1002, True),
        (1003, True),
        (1007, True),
        (1008, True),
        (1009, True),
        (1010, True),
    ],
)
async def test_closes_that_are_not_retried_end_or_raise(
    plan: Callable[..., ScriptedServer],
    code: int,
    raises: bool,
    recorders: list[Recorder],
    recorder_factory: Callable[[], Recorder],
) -> None:
    server = plan(close_with(code))
    outcome: BaseException | None = None
    async with Client(event_listener_factory=recorder_factory) as client:
        with anyio.fail_after(10):
            try:
                async for ws in client.websocket_reconnecting(
                    server.url, policy=ReconnectPolicy(**FAST)
                ):
                    await consume(ws)
            except ConnectionClosedError as exc:
                outcome = exc
    assert len(server.peers) == 1
    if raises:
        assert outcome is not None
        assert outcome.code == code
    else:
        assert outcome is None
    loop = loop_recorder(recorders)
    assert scheduled(loop) == []
    assert loop.events[-1] == ("websocket_reconnect_stopped", (outcome,))


async def test_the_policy_can_retry_an_application_code(
    plan: Callable[..., ScriptedServer],
) -> None:
    server = plan(close_with(4000), close_with(4000), close_with(1000))
    policy = ReconnectPolicy(**FAST, retry_codes=RETRY_CODES | {4000})
    async with Client() as client:
        with anyio.fail_after(10):
            async for ws in client.websocket_reconnecting(server.url, policy=policy):
                await consume(ws)
    assert len(server.peers) == 3


@pytest.mark.parametrize(("code", "raises"), [(1001, False), (1011, True), (4000, False)])
async def test_a_close_this_side_chose_is_never_retried(
    plan: Callable[..., ScriptedServer], code: int, raises: bool
) -> None:
    # 1001 and 1011 are retry codes when the server sends them; chosen by the
    # application, they are its decision, not a failure to recover from.
    server = plan(echo_until_close)
    outcome: BaseException | None = None
    async with Client() as client:
        with anyio.fail_after(10):
            try:
                async for ws in client.websocket_reconnecting(
                    server.url, policy=ReconnectPolicy(**FAST)
                ):
                    await ws.close(code)
            except ConnectionClosedError as exc:
                outcome = exc
    assert len(server.peers) == 1
    assert (outcome is not None) is raises
    assert server.peers[0].frames[-1].close_code == code


async def test_a_body_that_leaves_the_connection_open_ends_the_loop_with_1000(
    plan: Callable[..., ScriptedServer],
) -> None:
    server = plan(echo_until_close)
    yielded: list[WebSocket] = []
    async with Client() as client:
        with anyio.fail_after(10):
            async for ws in client.websocket_reconnecting(server.url, policy=ReconnectPolicy()):
                yielded.append(ws)
    assert len(yielded) == 1
    assert yielded[0].state is State.CLOSED
    await server.wait()
    assert server.peers[0].frames[-1].close_code == 1000


# ------------------------------------------------------- handshake answers


async def test_503_with_retry_after_is_capped_by_max_delay(
    plan: Callable[..., ScriptedServer],
    recorders: list[Recorder],
    recorder_factory: Callable[[], Recorder],
) -> None:
    later = formatdate(time.time() + 3600, usegmt=True)
    server = plan(
        answer("503 Service Unavailable", ("Retry-After", "120")),
        answer("503 Service Unavailable", ("Retry-After", later)),
        echo_until_close,
    )
    policy = ReconnectPolicy(base_delay=0.001, max_delay=0.02)
    async with Client(event_listener_factory=recorder_factory) as client:
        with anyio.fail_after(10):
            async for ws in client.websocket_reconnecting(server.url, policy=policy):
                await ws.close()
    delays = [args[1] for args in scheduled(loop_recorder(recorders))]
    assert delays == [0.02, 0.02]
    causes = [args[2] for args in scheduled(loop_recorder(recorders))]
    assert all(isinstance(c, UnexpectedStatus) and c.status == 503 for c in causes)


async def test_retry_after_is_honoured_and_cancelling_the_wait_ends_the_loop_at_once(
    plan: Callable[..., ScriptedServer],
    recorders: list[Recorder],
    recorder_factory: Callable[[], Recorder],
) -> None:
    # A Retry-After under max_delay is the wait, not the (millisecond) backoff.
    server = plan(answer("503 Service Unavailable", ("Retry-After", "5")))
    policy = ReconnectPolicy(base_delay=0.001, max_delay=60)
    waiting = anyio.Event()

    class Watch(Recorder):
        def websocket_reconnect_scheduled(
            self, attempt: int, delay: float, cause: BaseException
        ) -> None:
            super().websocket_reconnect_scheduled(attempt, delay, cause)
            waiting.set()

    def factory() -> Recorder:
        recorder = Watch()
        recorders.append(recorder)
        return recorder

    async with Client(event_listener_factory=factory) as client:
        connections = client.websocket_reconnecting(server.url, policy=policy)
        started = time.monotonic()
        async with anyio.create_task_group() as tg:

            async def iterate() -> None:
                async for _ in connections:
                    pytest.fail("the server only answers 503")

            tg.start_soon(iterate)
            with anyio.fail_after(5):
                await waiting.wait()
            tg.cancel_scope.cancel()
        assert time.monotonic() - started < 2
    loop = loop_recorder(recorders)
    assert [args[:2] for args in scheduled(loop)] == [(1, 5.0)]
    name, (error,) = loop.events[-1]
    assert name == "websocket_reconnect_stopped"
    assert isinstance(error, BaseException)
    assert not isinstance(error, Exception)  # the backend's cancellation
    assert len(server.peers) == 1


async def test_429_and_500_are_retried_with_the_backoff(
    plan: Callable[..., ScriptedServer],
    recorders: list[Recorder],
    recorder_factory: Callable[[], Recorder],
) -> None:
    server = plan(
        answer("429 Too Many Requests"), answer("500 Internal Server Error"), echo_until_close
    )
    async with Client(event_listener_factory=recorder_factory) as client:
        with anyio.fail_after(10):
            async for ws in client.websocket_reconnecting(
                server.url, policy=ReconnectPolicy(**FAST)
            ):
                await ws.close()
    events = scheduled(loop_recorder(recorders))
    assert [(a, c.status) for a, _, c in events] == [(1, 429), (2, 500)]
    assert 0 <= events[0][1] <= 0.001 and 0 <= events[1][1] <= 0.002


@pytest.mark.parametrize(
    ("status", "challenge"),
    [
        ("401 Unauthorized", ("WWW-Authenticate", 'Bearer realm="chat"')),
        ("403 Forbidden", None),
        ("407 Proxy Authentication Required", ("Proxy-Authenticate", "Basic")),
    ],
)
async def test_authentication_failures_are_typed_and_never_retried(
    plan: Callable[..., ScriptedServer], status: str, challenge: tuple[str, str] | None
) -> None:
    server = plan(answer(status, *([challenge] if challenge else [])))
    code, _, reason = status.partition(" ")
    async with Client() as client:
        with anyio.fail_after(10), pytest.raises(AuthenticationFailed) as info:
            await drain(client.websocket_reconnecting(server.url, policy=ReconnectPolicy(**FAST)))
        assert len(server.peers) == 1
        error = info.value
        assert isinstance(error, UnexpectedStatus)
        assert (error.status, error.reason, error.body) == (int(code), reason, b"not now")
        assert error.challenges == ([challenge[1]] if challenge else [])
        assert f"{code} {reason}" in str(error)
        if challenge:
            assert challenge[1] in str(error)
        # Typed for a plain handshake too.
        with pytest.raises(AuthenticationFailed):
            await client.new_websocket(server.url).execute()


async def test_other_4xx_answers_are_not_retried(plan: Callable[..., ScriptedServer]) -> None:
    server = plan(answer("404 Not Found"))
    async with Client() as client:
        with anyio.fail_after(10), pytest.raises(UnexpectedStatus) as info:
            await drain(client.websocket_reconnecting(server.url, policy=ReconnectPolicy(**FAST)))
    assert info.value.status == 404
    assert not isinstance(info.value, AuthenticationFailed)
    assert len(server.peers) == 1


async def test_a_handshake_timeout_is_retried(plan: Callable[..., ScriptedServer]) -> None:
    async def silent(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.wait_eof()

    server = plan(silent)
    policy = ReconnectPolicy(**FAST, max_retries=1)
    async with Client() as client:
        with anyio.fail_after(10), pytest.raises(ReconnectGaveUp) as info:
            await drain(
                client.websocket_reconnecting(server.url, policy=policy, handshake_timeout=0.05)
            )
    assert isinstance(info.value.cause, HandshakeTimeout)
    assert len(server.peers) == 2


async def test_a_certificate_that_fails_verification_is_not_retried(
    ow_loop: BackgroundLoop,
    ca: trustme.CA,
    recorders: list[Recorder],
    recorder_factory: Callable[[], Recorder],
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = ScriptedServer(ow_loop, echo_until_close, ssl_context=context).start()
    try:
        # The client trusts the default store, not the test CA.
        async with Client(event_listener_factory=recorder_factory) as client:
            with anyio.fail_after(10), pytest.raises(TLSError):
                await drain(
                    client.websocket_reconnecting(server.url, policy=ReconnectPolicy(**FAST))
                )
    finally:
        server.stop()
    calls = [r for r in recorders if "call_start" in r.names]
    assert len(calls) == 1
    assert scheduled(loop_recorder(recorders)) == []


# ---------------------------------------------------------------- give up


async def test_gives_up_after_max_retries_with_the_last_cause(
    recorders: list[Recorder], recorder_factory: Callable[[], Recorder]
) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"  # nothing listens there
    policy = ReconnectPolicy(**FAST, max_retries=3)
    async with Client(event_listener_factory=recorder_factory) as client:
        with anyio.fail_after(10), pytest.raises(ReconnectGaveUp) as info:
            await drain(client.websocket_reconnecting(url, policy=policy))
    error = info.value
    assert error.attempts == 4
    assert isinstance(error.cause, ConnectError)
    assert error.__cause__ is error.cause
    assert "max_retries=3" in str(error)
    loop = loop_recorder(recorders)
    assert [args[0] for args in scheduled(loop)] == [1, 2, 3]
    assert loop.events[-1] == ("websocket_reconnect_stopped", (error,))


async def test_gives_up_after_max_elapsed(
    recorders: list[Recorder], recorder_factory: Callable[[], Recorder]
) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    policy = ReconnectPolicy(base_delay=0.01, max_delay=0.02, max_elapsed=0.1)
    started = time.monotonic()
    async with Client(event_listener_factory=recorder_factory) as client:
        with anyio.fail_after(10), pytest.raises(ReconnectGaveUp) as info:
            await drain(client.websocket_reconnecting(url, policy=policy))
    assert time.monotonic() - started >= 0.1
    assert info.value.elapsed >= 0.1
    assert isinstance(info.value.cause, ConnectError)
    assert "max_elapsed=0.1s" in str(info.value)
    assert len(scheduled(loop_recorder(recorders))) >= 2


async def test_connections_that_close_before_they_are_stable_count_as_failures(
    plan: Callable[..., ScriptedServer],
) -> None:
    server = plan(close_with(1011))
    policy = ReconnectPolicy(**FAST, max_retries=2)
    async with Client() as client:
        with anyio.fail_after(10), pytest.raises(ReconnectGaveUp) as info:
            await drain(client.websocket_reconnecting(server.url, policy=policy))
    assert len(server.peers) == 3
    assert isinstance(info.value.cause, ConnectionClosedError)
    assert info.value.cause.code == 1011


# ----------------------------------------------------------------- jitter


def test_full_jitter_stays_within_its_bounds_and_replays_from_a_seed() -> None:
    policy = ReconnectPolicy(base_delay=0.5, max_delay=10.0, random=random.Random(7).random)
    replay = random.Random(7)
    for attempt in range(1, 40):
        ceiling = min(10.0, 0.5 * 2 ** (attempt - 1))
        delay = policy.backoff(attempt)
        assert 0 <= delay <= ceiling
        assert delay == replay.random() * ceiling
    extremes = ReconnectPolicy(base_delay=0.5, max_delay=10.0, random=lambda: 0.999999)
    assert extremes.backoff(1) == pytest.approx(0.5, rel=1e-5)
    assert extremes.backoff(1000) == pytest.approx(10.0, rel=1e-5)


async def test_the_loop_waits_what_the_seeded_random_gives(
    recorders: list[Recorder], recorder_factory: Callable[[], Recorder]
) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    policy = ReconnectPolicy(**FAST, max_retries=5, random=random.Random(42).random)
    replay = random.Random(42)
    async with Client(event_listener_factory=recorder_factory) as client:
        with anyio.fail_after(10), pytest.raises(ReconnectGaveUp):
            await drain(client.websocket_reconnecting(url, policy=policy))
    expected = [replay.random() * min(0.004, 0.001 * 2 ** (n - 1)) for n in range(1, 6)]
    assert [args[1] for args in scheduled(loop_recorder(recorders))] == expected


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_000_000.0
    assert retry_after([("Retry-After", "7")], now) == 7.0
    assert retry_after([("retry-after", formatdate(now + 30, usegmt=True))], now) == 30.0
    assert retry_after([("Retry-After", formatdate(now - 30, usegmt=True))], now) == 0.0
    assert retry_after([("Retry-After", "soon")], now) is None
    assert retry_after([("Retry-After", "-3")], now) is None
    assert retry_after([], now) is None


def test_the_policy_refuses_impossible_settings() -> None:
    with pytest.raises(ValueError, match="max_delay"):
        ReconnectPolicy(base_delay=2, max_delay=1)
    with pytest.raises(ValueError, match="max_retries"):
        ReconnectPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="max_elapsed"):
        ReconnectPolicy(max_elapsed=0)
    with pytest.raises(ValueError, match="base_delay"):
        ReconnectPolicy(base_delay=-1)


async def test_options_are_checked_before_any_connection() -> None:
    async with Client() as client:
        with pytest.raises(TypeError, match="unknown WebSocket option"):
            client.websocket_reconnecting("ws://127.0.0.1:9/", handshake_timout=1)


# ------------------------------------------------------------------ on_connect


async def test_on_connect_failing_closes_with_1011_and_raises(
    plan: Callable[..., ScriptedServer],
) -> None:
    server = plan(echo_until_close)

    async def broken(ws: WebSocket) -> None:
        raise LookupError("no such channel")

    async with Client() as client:
        with anyio.fail_after(10), pytest.raises(LookupError, match="no such channel"):
            await drain(
                client.websocket_reconnecting(
                    server.url, policy=ReconnectPolicy(**FAST), on_connect=broken
                )
            )
    await server.wait()
    assert server.peers[0].frames[-1].close_code == 1011
    assert len(server.peers) == 1


async def test_a_connection_lost_during_on_connect_is_retried(
    plan: Callable[..., ScriptedServer],
) -> None:
    async def subscribe_then_close(peer: RawPeer) -> None:
        await peer.handshake()
        assert (await peer.read_frame()).payload == b"subscribe"  # type: ignore[union-attr]
        await peer.send_frame(0x1, b"subscribed")
        await peer.send_frame(0x8, close_payload(1000))
        await peer.read_until_close()

    server = plan(close_with(1012), subscribe_then_close)
    hooks: list[WebSocket] = []

    async def subscribe(ws: WebSocket) -> None:
        hooks.append(ws)
        await ws.send("subscribe")
        assert (await ws.receive()).data == "subscribed"

    yielded = 0
    async with Client() as client:
        with anyio.fail_after(10):
            async for ws in client.websocket_reconnecting(
                server.url, policy=ReconnectPolicy(**FAST), on_connect=subscribe
            ):
                yielded += 1
                await consume(ws)
    assert len(hooks) == 2
    assert hooks[0].close_code == 1012
    assert yielded == 1
    await server.wait()


async def test_cancelling_during_on_connect_releases_the_connection(
    plan: Callable[..., ScriptedServer],
) -> None:
    server = plan(echo_until_close)
    entered = anyio.Event()

    async def stuck(ws: WebSocket) -> None:
        entered.set()
        await anyio.sleep_forever()

    async with Client() as client, anyio.create_task_group() as tg:

        async def iterate() -> None:
            async for _ in client.websocket_reconnecting(
                server.url, policy=ReconnectPolicy(**FAST), on_connect=stuck
            ):
                pytest.fail("on_connect never finishes")

        tg.start_soon(iterate)
        with anyio.fail_after(5):
            await entered.wait()
        tg.cancel_scope.cancel()
    await server.wait()
    assert server.peers[0].frames[-1].opcode == 0x8


# ---------------------------------------------------------- leaving the loop


async def test_break_closes_the_current_connection(plan: Callable[..., ScriptedServer]) -> None:
    server = plan(echo_until_close)
    yielded: list[WebSocket] = []
    async with Client() as client:
        with anyio.fail_after(10):
            async for ws in client.websocket_reconnecting(server.url):
                yielded.append(ws)
                break
            await server.wait()
    # Nothing awaited the close: dropping the loop started it (1001, going away).
    assert server.peers[0].frames[-1].close_code == 1001
    assert yielded[0].state is not State.OPEN


async def test_async_with_closes_with_1000_and_waits(
    plan: Callable[..., ScriptedServer],
    recorders: list[Recorder],
    recorder_factory: Callable[[], Recorder],
) -> None:
    server = plan(echo_until_close)
    yielded: list[WebSocket] = []

    async def fail(connections: ReconnectingWebSocket) -> None:
        async with connections:
            async for ws in connections:
                yielded.append(ws)
                raise KeyError("the application failed")

    async with Client(event_listener_factory=recorder_factory) as client:
        with anyio.fail_after(10), pytest.raises(KeyError):
            await fail(client.websocket_reconnecting(server.url))
        assert yielded[0].state is State.CLOSED
    await server.wait()
    assert server.peers[0].frames[-1].close_code == 1000
    name, (error,) = loop_recorder(recorders).events[-1]
    assert name == "websocket_reconnect_stopped"
    assert isinstance(error, KeyError)


async def test_an_exception_in_the_body_propagates_unchanged(
    plan: Callable[..., ScriptedServer],
) -> None:
    server = plan(echo_until_close)

    async def run(client: Client) -> None:
        async for _ in client.websocket_reconnecting(server.url):
            raise ZeroDivisionError

    async with Client() as client:
        with anyio.fail_after(10):
            with pytest.raises(ZeroDivisionError):
                await run(client)
            await server.wait()
    assert server.peers[0].frames[-1].opcode == 0x8


async def test_the_loop_is_iterated_from_one_task() -> None:
    url = f"ws://127.0.0.1:{free_port()}/"  # nothing listens: the first task keeps retrying
    async with Client() as client:
        connections: ReconnectingWebSocket = client.websocket_reconnecting(url)
        started = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def first() -> None:
                started.set()
                await connections.__anext__()

            tg.start_soon(first)
            await started.wait()
            with pytest.raises(RuntimeError, match="one task"):
                await connections.__anext__()
            tg.cancel_scope.cancel()
