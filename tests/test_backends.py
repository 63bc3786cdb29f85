"""The backend dimension of the suite runs where it says: asyncio, uvloop, trio."""

from __future__ import annotations

import asyncio

import pytest
import sniffio

pytestmark = pytest.mark.anyio


async def test_each_backend_dimension_runs_on_its_own_event_loop(
    request: pytest.FixtureRequest,
) -> None:
    backend = request.node.callspec.params["anyio_backend"]
    if backend == "trio":
        assert sniffio.current_async_library() == "trio"
        return
    loop_module = type(asyncio.get_running_loop()).__module__
    assert loop_module.startswith("uvloop") == (backend == "uvloop"), loop_module
