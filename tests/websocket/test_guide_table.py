"""The guide's side-by-side table: openwire's way of doing a task is never the longest."""

from __future__ import annotations

from pathlib import Path

GUIDE = Path(__file__).parents[2] / "docs" / "websocket.md"


def _rows() -> list[list[str]]:
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## Common tasks, side by side", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    header, *body = lines
    assert header.split("|")[1:-1] == [
        " task ",
        " websockets ",
        " aiohttp ",
        " httpx-ws ",
        " openwire ",
    ]
    return [[cell.strip() for cell in line.split("|")[1:-1]] for line in body[1:]]


def test_the_table_covers_the_tasks_users_reach_for() -> None:
    tasks = [row[0] for row in _rows()]
    assert len(tasks) >= 10
    for task in ("Authorization", "JSON", "timeout", "pieces", "reconnect", "uncompressed"):
        assert any(task in name for name in tasks), task


def test_openwire_is_never_the_longest() -> None:
    for task, *others, openwire in _rows():
        longest = max(len(cell) for cell in others)
        assert len(openwire) <= longest, f"{task!r}: {openwire!r} is the longest"
