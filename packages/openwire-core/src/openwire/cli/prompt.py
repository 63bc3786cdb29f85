"""A line editor for ``openwire ws`` on a terminal that incoming messages do not tear.

The line being typed is read with the standard library's :mod:`readline`
(editing, history with the arrow keys) in a daemon thread, so the event loop
keeps receiving. Anything printed meanwhile goes through :meth:`LinePrompt.above`:
the prompt line is erased, the text printed, and the prompt redrawn with
what the user had typed so far, so a message arriving mid-word never splits
the line being edited.

readline rather than prompt_toolkit: it is in the standard library (no
extra to install), and it runs on a thread of its own, so the command works
the same on asyncio and trio; prompt_toolkit's asynchronous prompt needs an
asyncio loop. Where readline is missing (Windows), :func:`input` still
reads lines, without editing.

readline's two hooks bracket the drawing of the prompt: the startup hook
(before it) takes the lock :meth:`LinePrompt.above` prints under, the
pre-input hook (after it, the terminal prepared) marks the prompt as shown
and lets printing go on. So text is never printed in the middle of a prompt
being drawn, and a prompt is redrawn only when readline is reading. The
thread hands each line over without waiting for the loop and goes straight
back to reading: between two lines the terminal is briefly in
its normal (canonical) mode, where a Ctrl-D would be taken as an empty read
rather than reach readline.

The thread is a daemon (a pending ``input()`` cannot be interrupted), and
readline leaves the terminal in its own mode while it waits: :meth:`close`
puts back the terminal settings found at the start.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, TextIO

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream

__all__ = ["LinePrompt"]

_ERASE_LINE = "\r\x1b[K"
_PATIENCE = 0.5  # seconds: the longest a print waits for a prompt being drawn


class LinePrompt:
    """Lines typed at the terminal, edited with readline; output printed above the prompt."""

    def __init__(self, prompt: str, stream: TextIO | None = None) -> None:
        self.prompt = prompt
        self._stream = stream or sys.stdout
        self._reading = threading.Event()
        self._lock = threading.Lock()
        self._hooked = False
        self._saved: Any = None
        try:
            import termios

            self._saved = termios.tcgetattr(sys.stdin.fileno())
        except Exception:  # not a POSIX terminal: nothing to restore
            self._saved = None
        try:
            import readline
        except ImportError:  # pragma: no cover - Windows: plain input()
            self._readline: Any = None
        else:
            self._readline = readline
            readline.set_startup_hook(self._drawing)
            readline.set_pre_input_hook(self._drawn)

    def _drawing(self) -> None:
        """readline is about to draw the prompt: hold the printing until it is done."""
        self._hooked = self._lock.acquire(timeout=_PATIENCE)

    def _drawn(self) -> None:
        """The prompt is drawn and readline reads: printing redraws it from now on."""
        self._reading.set()
        if self._hooked:
            self._hooked = False
            self._lock.release()

    def _buffer(self) -> str:
        if self._readline is None:
            return ""
        try:
            return str(self._readline.get_line_buffer())
        except Exception:
            return ""

    @contextlib.contextmanager
    def above(self) -> Iterator[None]:
        """Print inside this block: the prompt line is erased first and redrawn after.

        Never waits long: if the prompt is not drawn within a moment (readline
        interrupted between its hooks), the text is printed as it is.
        """
        locked = self._lock.acquire(timeout=_PATIENCE)
        try:
            reading = locked and self._reading.is_set()
            if reading:
                self._stream.write(_ERASE_LINE)
                self._stream.flush()
            try:
                yield
            finally:
                if reading:
                    self._stream.write(self.prompt + self._buffer())
                    self._stream.flush()
        finally:
            if locked:
                self._lock.release()

    def _read(
        self, send: MemoryObjectSendStream[str], token: anyio.lowlevel.EventLoopToken
    ) -> None:
        try:
            while True:
                if self._readline is None:
                    self._reading.set()  # no hook to say when: from now on
                try:
                    line = input(self.prompt)
                except EOFError:
                    break
                finally:
                    self._reading.clear()
                anyio.from_thread.run_sync(send.send_nowait, line, token=token)
        except Exception:
            return  # the loop is gone, or nobody reads any more
        finally:
            try:
                anyio.from_thread.run_sync(send.close, token=token)
            except Exception:
                send.close()

    async def lines(self) -> AsyncIterator[str]:
        """Each line typed, until Ctrl-D (EOF)."""
        # Unbounded: the thread must not wait for the loop before reading again
        # (a few lines typed by a person are all it will ever hold).
        send, receive = anyio.create_memory_object_stream[str](math.inf)
        token = anyio.lowlevel.current_token()
        thread = threading.Thread(
            target=self._read, args=(send, token), name="openwire-prompt", daemon=True
        )
        thread.start()
        async with receive:
            async for line in receive:
                yield line

    def close(self) -> None:
        """Leave the terminal as it was found, and the cursor on a line of its own."""
        if self._readline is not None:
            self._readline.set_startup_hook(None)
            self._readline.set_pre_input_hook(None)
        if self._reading.is_set():
            self._reading.clear()
            self._stream.write(_ERASE_LINE)
            self._stream.flush()
        if self._saved is not None:
            import termios

            with contextlib.suppress(Exception):
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
