"""``openwire ws`` on a real terminal: typed lines, Ctrl-D and Ctrl-C."""

from __future__ import annotations

import fcntl
import os
import re
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator

import pytest
from openwire.cli.demo_server import EchoServer as DemoEchoServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Terminal:
    """The command on a pseudo-terminal that is its controlling tty (so ^C is SIGINT)."""

    def __init__(self, *args: str) -> None:
        import pty

        self.master, slave = pty.openpty()

        def become_session_leader() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
        env["TERM"] = "xterm"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "openwire.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
            preexec_fn=become_session_leader,
            env=env,
        )
        os.close(slave)
        self.raw = b""

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw.decode("utf-8", "replace")).replace("\r\n", "\n")

    def expect(self, pattern: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.text, re.MULTILINE):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{pattern!r} not seen; terminal shows:\n{self.text}")
            ready, _, _ = select.select([self.master], [], [], min(remaining, 0.1))
            if ready:
                try:
                    self.raw += os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    time.sleep(0.05)

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait(self, timeout: float = 15) -> int:
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        os.close(self.master)


@pytest.fixture
def terminal(demo_server: DemoEchoServer) -> Iterator[Terminal]:
    term = Terminal("ws", demo_server.url, "--grace", "0.2")
    yield term
    term.close()


def test_typed_line_is_echoed_and_ctrl_d_closes_normally(terminal: Terminal) -> None:
    terminal.expect("Ctrl-C quits")
    assert "\x1b[" in terminal.raw.decode(), "a terminal gets colour"
    terminal.type(b"hello terminal\n")
    terminal.expect(r"^< .* text 14 B hello terminal$")
    terminal.type(b"\x04")
    # Read while the child is alive: a pty may drop output once its last writer exits.
    terminal.expect("closed normally with 1000")
    assert terminal.wait() == 0


def test_ctrl_c_closes_with_1001(terminal: Terminal) -> None:
    terminal.expect("Ctrl-C quits")
    terminal.type(b"first\n")
    terminal.expect(r"^< .* first$")
    terminal.type(b"\x03")
    terminal.expect("closed with 1001")
    assert terminal.wait() == 130
