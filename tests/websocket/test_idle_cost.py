"""What an idle WebSocket costs the event loop: tasks per connection, and trio's shared timers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sniffio
from openwire.client import Client

pytestmark = pytest.mark.anyio


def _tasks() -> int:
    if sniffio.current_async_library() != "trio":
        return len(asyncio.all_tasks())
    import trio

    def walk(task: Any) -> int:
        return 1 + sum(walk(child) for n in task.child_nurseries for child in n.child_tasks)

    return walk(trio.lowlevel.current_root_task())


async def test_an_idle_websocket_costs_at_most_one_task(echo_server: Any) -> None:
    """asyncio: none (a protocol on the transport); trio: the reader; heartbeat timers share one."""
    n = 5
    async with Client() as client:
        before = _tasks()
        # The default heartbeat is on: its timer must not be a task of its own.
        sockets = [await client.new_websocket(echo_server.url).execute() for _ in range(n)]
        try:
            added = _tasks() - before
            if sniffio.current_async_library() == "trio":
                assert added <= n + 1, f"{added} tasks for {n} idle WebSockets (+1 shared timer)"
            else:
                assert added == 0, f"{added} tasks for {n} idle WebSockets on asyncio"
            # A send starts the writer on trio; the connection still works end to end.
            await sockets[0].send("ping")
            assert await sockets[0].receive_text() == "ping"
        finally:
            for ws in sockets:
                await ws.close()


async def test_trio_timers_share_one_task_in_deadline_order() -> None:
    if sniffio.current_async_library() != "trio":
        pytest.skip("trio's timers; asyncio has loop.call_later")
    import trio
    from openwire.io.trio_backend import TrioRuntime

    runtime = TrioRuntime()
    fired: list[str] = []
    done = trio.Event()
    before = _tasks()
    runtime.call_later(0.05, lambda: fired.append("late"))
    cancelled = runtime.call_later(0.02, lambda: fired.append("cancelled"))
    # Earlier than the one the timer task is sleeping towards: it must wake for it.
    runtime.call_later(0.01, lambda: fired.append("early"))
    runtime.call_later(0.06, done.set)
    cancelled.cancel()
    assert _tasks() - before == 1, "one task for every timer of the run"
    with trio.fail_after(5):
        await done.wait()
    assert fired == ["early", "late"]
