"""The examples in examples/ run as documented, against the local echo server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("echo.py", ["sent 'hello', got 'hello'", "closed with 1000"]),
        ("subprotocol.py", ["server chose 'chat.v2'", '"version": 2']),
    ],
)
def test_example_runs(script: str, expected: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for line in expected:
        assert line in result.stdout
