"""The stdin pump owns what it reads: the caller's descriptor can go at any time."""

from __future__ import annotations

import os

import pytest
from openwire.cli.stdin import stdin_lines

pytestmark = pytest.mark.anyio


async def test_lines_survive_the_caller_closing_its_descriptor() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"one\n")
    lines = stdin_lines(read_end)
    assert await anext(lines) == b"one"
    # The caller's descriptor is gone (a test's teardown, a reused number):
    # the pump reads its own duplicate, so later input still arrives.
    os.close(read_end)
    os.write(write_end, b"two\r\nthree")
    os.close(write_end)
    assert [line async for line in lines] == [b"two", b"three"]
