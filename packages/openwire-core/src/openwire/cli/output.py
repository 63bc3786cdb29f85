"""Terminal output: colour only for a human watching, plain text for pipes.

Data (received and sent messages, response bodies) goes to stdout so it can
be piped onward; status, events and errors go to stderr so they never pollute
that data.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TextIO

__all__ = ["Output", "Style", "format_duration", "format_size"]

_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}


def _wants_colour(stream: TextIO, mode: str) -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


class Style:
    """ANSI styling that turns itself off when the stream is not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"


class Output:
    """The two streams of a command, each with its own colour decision."""

    def __init__(
        self, colour: str = "auto", out: TextIO | None = None, err: TextIO | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.style = Style(_wants_colour(self.out, colour))
        self.err_style = Style(_wants_colour(self.err, colour))
        self.started = time.perf_counter()
        # Every line is written inside this: an interactive prompt erases and redraws itself.
        self.above: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext

    def restart_clock(self) -> None:
        """Event times count from the call, not from interpreter start-up and imports."""
        self.started = time.perf_counter()

    def print(self, text: str = "") -> None:
        with self.above():
            print(text, file=self.out, flush=True)

    def write_bytes(self, data: bytes) -> None:
        """Raw bytes to stdout (an HTTP body may not be text at all)."""
        self.out.flush()
        buffer = getattr(self.out, "buffer", None)
        with self.above():
            if buffer is None:
                self.out.write(data.decode("utf-8", "replace"))
            else:
                buffer.write(data)
                buffer.flush()

    def info(self, text: str) -> None:
        """A status line (connected, closed ...) on stderr."""
        self._err(self.err_style("* " + text, "dim"))

    def success(self, text: str) -> None:
        self._err(self.err_style("* " + text, "green"))

    def warn(self, text: str) -> None:
        self._err(self.err_style("! " + text, "yellow"))

    def error(self, text: str) -> None:
        self._err(self.err_style("error: ", "red", "bold") + text)

    def event(self, name: str, detail: str) -> None:
        """One EventListener event, stamped with the time since the command started."""
        elapsed = (time.perf_counter() - self.started) * 1000
        stamp = self.err_style(f"[{elapsed:9.2f} ms]", "dim")
        label = self.err_style(name, "magenta")
        self._err(f"{stamp} {label} {detail}".rstrip())

    def _err(self, line: str) -> None:
        with self.above():
            print(line, file=self.err, flush=True)


def format_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"
