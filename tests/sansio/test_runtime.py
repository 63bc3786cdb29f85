"""The runtimes of the real backends (asyncio, uvloop, trio): timers, waiters, detached tasks."""

from __future__ import annotations

import logging

import anyio
import anyio.lowlevel
import pytest
from openwire.io.backend import current_backend
from openwire.io.runtime import Waiters

pytestmark = pytest.mark.anyio


async def test_timers_fire_in_order_and_a_cancelled_one_never_fires() -> None:
    runtime = current_backend().runtime()
    fired: list[str] = []
    runtime.call_later(0.02, lambda: fired.append("late"))
    cancelled = runtime.call_later(0.01, lambda: fired.append("cancelled"))
    runtime.call_later(0.0, lambda: fired.append("early"))
    cancelled.cancel()
    await anyio.sleep(0.1)
    assert fired == ["early", "late"]


async def test_a_waiter_woken_before_the_wait_does_not_block() -> None:
    runtime = current_backend().runtime()
    waiter = runtime.waiter()
    waiter.wake()
    with anyio.fail_after(1):
        await waiter.wait()


async def test_waiters_wake_every_task_waiting() -> None:
    runtime = current_backend().runtime()
    waiters = Waiters(runtime)
    woken: list[int] = []

    async def wait(n: int) -> None:
        await waiters.wait()
        woken.append(n)

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait, 1)
        tg.start_soon(wait, 2)
        await anyio.sleep(0.01)
        waiters.wake_all()
    assert sorted(woken) == [1, 2]


async def test_a_detached_task_that_fails_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = current_backend().runtime()

    async def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="openwire.websocket"):
        runtime.spawn(broken, "openwire-test")
        await anyio.sleep(0.01)
    assert "openwire background task openwire-test failed" in caplog.text


async def test_a_cancelled_detached_task_ends_quietly(caplog: pytest.LogCaptureFixture) -> None:
    runtime = current_backend().runtime()
    started, finished = anyio.Event(), []

    async def forever() -> None:
        started.set()
        await anyio.sleep_forever()
        finished.append(True)

    handle = runtime.spawn(forever, "openwire-test")
    await started.wait()
    handle.cancel()
    await anyio.sleep(0.01)
    assert finished == []
    assert "failed" not in caplog.text


async def test_fail_after_raises_the_stdlib_timeout_error() -> None:
    runtime = current_backend().runtime()
    with pytest.raises(TimeoutError):
        async with runtime.fail_after(0.01):
            await anyio.sleep(1)
    async with runtime.fail_after(None):
        await anyio.lowlevel.checkpoint()


async def test_the_backend_is_named_as_engines_declare_it() -> None:
    backend = current_backend()
    assert backend.name in ("asyncio", "trio")
    assert backend.runtime().backend == backend.name
    assert current_backend() is backend  # chosen once, not rebuilt per call
