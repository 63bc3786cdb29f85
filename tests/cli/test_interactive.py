"""``openwire ws`` on a real terminal: typed lines, Ctrl-D and Ctrl-C."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from typing import Any

import pytest
from openwire.cli.demo_server import EchoServer as DemoEchoServer
from openwire.testing.servers import BackgroundLoop
from openwire.testing.servers import EchoServer as WebsocketsEchoServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


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
        # What the screen shows: escapes dropped, and a carriage return starts the line again.
        text = ANSI.sub("", self.raw.decode("utf-8", "replace")).replace("\r\n", "\n")
        return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))

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

    def expect_prompt(self) -> None:
        """Wait for an empty prompt on the last line: readline has the terminal, reading.

        Keys typed before it would meet the terminal in its normal mode (a ^D
        there is an empty read, not the end of input), as they would for a
        person typing ahead of the prompt.
        """
        self.expect(r"\n> \Z")

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
    terminal.expect_prompt()
    terminal.type(b"hello terminal\n")
    terminal.expect(r"^< .* text 14 B hello terminal$")
    terminal.expect_prompt()
    terminal.type(b"\x04")
    # Read while the child is alive: a pty may drop output once its last writer exits.
    terminal.expect("closed normally with 1000")
    assert terminal.wait() == 0


def test_ctrl_c_closes_with_1001(terminal: Terminal) -> None:
    terminal.expect("Ctrl-C quits")
    terminal.expect_prompt()
    terminal.type(b"first\n")
    terminal.expect(r"^< .* first$")
    terminal.type(b"\x03")
    terminal.expect("closed with 1001")
    assert terminal.wait() == 130


class _LaterServer(WebsocketsEchoServer):
    """Echoes, except that ``later`` is answered by a ``tick`` a second afterwards."""

    async def _handler(self, ws: Any) -> None:
        async for message in ws:
            if message == "later":
                await asyncio.sleep(1)
                await ws.send("tick")
            else:
                await ws.send(message)


@pytest.fixture(scope="module")
def later_server() -> Iterator[_LaterServer]:
    loop = BackgroundLoop()
    server = _LaterServer(loop).start()
    yield server
    server.stop()
    loop.close()


def test_a_message_arriving_mid_line_does_not_tear_it(later_server: _LaterServer) -> None:
    terminal = Terminal("ws", later_server.url, "--grace", "0.2")
    try:
        terminal.expect("Ctrl-C quits")
        terminal.expect_prompt()
        terminal.type(b"later\n")
        terminal.expect(r"^> .* text 5 B later$")
        terminal.expect_prompt()
        terminal.type(b"hel")  # half a line, when the tick arrives
        terminal.expect(r"^< .* text 4 B tick$")
        terminal.expect(r"^> hel$")  # the prompt, redrawn below it with what was typed
        terminal.type(b"lo\n")
        terminal.expect(r"^< .* text 5 B hello$")  # the line was sent whole
        terminal.expect_prompt()
        terminal.type(b"\x04")
        terminal.expect("closed normally with 1000")
        assert terminal.wait() == 0
    finally:
        terminal.close()


def test_ping_and_help_then_quit(terminal: Terminal) -> None:
    terminal.expect("Ctrl-C quits")
    terminal.expect_prompt()
    terminal.type(b"/ping hello\n")
    terminal.expect(r"pong in \d")
    terminal.expect_prompt()
    terminal.type(b"/nope\n")
    terminal.expect("unknown command /nope")
    terminal.expect(r"commands: /ping \[text\], /close \[code\] \[reason\], /quit")
    terminal.expect_prompt()
    terminal.type(b"//slash\n")
    terminal.expect(r"^< .* text 6 B /slash$")  # // sends a line that starts with /
    terminal.expect_prompt()
    terminal.type(b"/quit\n")
    terminal.expect("closed normally with 1000")
    assert terminal.wait() == 0


def test_close_with_a_code_and_reason(terminal: Terminal) -> None:
    terminal.expect("Ctrl-C quits")
    terminal.expect_prompt()
    terminal.type(b"/close 99\n")
    terminal.expect("not closed: .*usage: /close")
    terminal.expect_prompt()
    terminal.type(b"/close 4000 done here\n")
    # The demo server echoes the code without the reason, as RFC 6455 §5.5.1 allows.
    terminal.expect(r"connection closed locally with code 4000")
    assert terminal.wait() == 1  # a close with another code than 1000/1001
    assert "\x1b[" not in terminal.text  # escapes are not left on the screen


def test_the_terminal_is_restored_after_the_prompt(terminal: Terminal) -> None:
    terminal.expect("Ctrl-C quits")
    terminal.expect_prompt()
    terminal.type(b"/quit\n")
    terminal.expect("closed normally")
    assert terminal.wait() == 0
    # readline had the line discipline in its own mode while it waited for a line.
    local_modes = termios.tcgetattr(terminal.master)[3]
    assert local_modes & termios.ICANON
    assert local_modes & termios.ECHO
