"""Tools of the reliability tests: resource counters, a peer process, strict warnings.

Every test here measures something that must come back: open file
descriptors (``/proc/self/fd``), running tasks (``asyncio.all_tasks()`` on
asyncio and uvloop; ``tasks_living`` from trio's run statistics on trio),
timers still armed on an asyncio loop, live ``Session`` objects, and memory
(``tracemalloc``, or RSS from ``/proc/self/statm``).

Two kinds of silent failure are turned into test failures here:

- ``ResourceWarning`` is an error inside these tests (module ``pytestmark``),
  so an unclosed socket, transport or event loop found by the garbage
  collector becomes an unraisable exception, which the project's
  ``filterwarnings`` already turns into an error;
- anything logged at ERROR by ``asyncio``, ``trio`` or ``openwire`` while a
  test runs fails it at teardown: that is where "Task was destroyed but it
  is pending!", "Unclosed connection" and a crashed background task of the
  session end up, none of which raises in the test itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
import sniffio
from openwire.websocket.session import Session

ROOT = Path(__file__).resolve().parents[2]
KiB = 1024
MiB = 1024 * KiB

# Engines other than native run fewer cycles: the session, channel and
# handshake code is shared, and the engine adapters are thin.
FULL_ENGINE = "native"


# ----------------------------------------------------------------- counters


def open_fds() -> int:
    """File descriptors open in this process."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def running_tasks() -> int:
    """Tasks alive on the current event loop (asyncio or trio)."""
    if sniffio.current_async_library() == "trio":
        import trio

        return int(trio.lowlevel.current_statistics().tasks_living)
    return len(asyncio.all_tasks())


def armed_timers() -> int:
    """Timers still armed on an asyncio loop (on trio timers are tasks, counted there).

    Read from the selector loop's heap of scheduled handles; uvloop keeps no
    such list, so there it is always 0 and the task and fd counts must do.
    """
    if sniffio.current_async_library() == "trio":
        return 0
    scheduled = getattr(asyncio.get_running_loop(), "_scheduled", None)
    if scheduled is None:
        return 0
    return sum(1 for handle in scheduled if not handle.cancelled())


def live_sessions() -> int:
    """WebSocket sessions still reachable from anything."""
    return sum(1 for obj in gc.get_objects() if isinstance(obj, Session))


@dataclass(frozen=True)
class Resources:
    fds: int
    tasks: int
    timers: int
    sessions: int

    @classmethod
    def now(cls) -> Resources:
        gc.collect()
        return cls(open_fds(), running_tasks(), armed_timers(), live_sessions())

    def within(self, baseline: Resources) -> bool:
        return (
            self.fds <= baseline.fds
            and self.tasks <= baseline.tasks
            and self.timers <= baseline.timers
            and self.sessions <= baseline.sessions
        )


async def settle(baseline: Resources, timeout: float = 5.0) -> Resources:
    """Wait (at most ``timeout`` seconds) for every count to come back to ``baseline``.

    Closing is asynchronous on both ends (the server closes TCP after the
    close handshake, a dropped WebSocket closes from a finalizer), so a
    little settle time is allowed; what is still open after it leaked.
    The cheap counts are polled first; a collection runs once they are back.
    """
    deadline = time.monotonic() + timeout
    while True:
        expired = time.monotonic() > deadline
        if expired or (
            open_fds() <= baseline.fds
            and running_tasks() <= baseline.tasks
            and armed_timers() <= baseline.timers
        ):
            now = Resources.now()
            if now.within(baseline) or expired:
                return now
        await anyio.sleep(0.01)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Move everything alive now out of the collector's sight for the duration.

    pytest's own objects (thousands of collected items) would otherwise be
    traversed by every ``gc.collect()`` a test does between batches.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def assert_released(after: Resources, baseline: Resources, what: str) -> None:
    assert after.within(baseline), (
        f"after {what}, resources did not return to the baseline within the settle time: "
        f"{after} vs baseline {baseline}"
    )


def drop_stale_trio_deadlines() -> None:
    """Make trio forget the deadlines of cancel scopes that have already exited.

    trio keeps every deadline a cancel scope ever registered in one heap per
    run and drops an entry only when its time comes or, in a batch, once
    stale entries outnumber live ones by a thousand. Each handshake leaves a
    few (the read and write timeouts of the upgrade, the handshake's own, the
    close linger), so on trio every cycle seems to keep about 1.5 KiB for up
    to the longest timeout (30 s). They are trio's bookkeeping and bounded,
    not something the connection holds: a scope still entered (a task that
    did not end, a timer still armed) is live and stays counted. No-op
    elsewhere, or if trio's internals move (then trio's entries count again).
    """
    try:
        if sniffio.current_async_library() != "trio":
            return
    except sniffio.AsyncLibraryNotFoundError:
        return
    context = getattr(sys.modules.get("trio._core._run"), "GLOBAL_RUN_CONTEXT", None)
    runner = getattr(context, "runner", None)
    prune = getattr(getattr(runner, "deadlines", None), "_prune", None)
    if prune is not None:
        prune()


class TracedMemory:
    """``tracemalloc`` for one measurement; leaves tracing as it found it."""

    def __enter__(self) -> TracedMemory:
        self._was_tracing = tracemalloc.is_tracing()
        if not self._was_tracing:
            tracemalloc.start()
        gc.collect()
        tracemalloc.reset_peak()
        self.start = tracemalloc.get_traced_memory()[0]
        return self

    def current(self) -> int:
        """Bytes allocated since entry and still alive (after a collection)."""
        gc.collect()
        drop_stale_trio_deadlines()
        return tracemalloc.get_traced_memory()[0] - self.start

    def peak(self) -> int:
        """Highest allocation since entry (or since the last :meth:`reset_peak`)."""
        return tracemalloc.get_traced_memory()[1] - self.start

    def reset_peak(self) -> None:
        tracemalloc.reset_peak()

    def __exit__(self, *exc_info: object) -> None:
        if not self._was_tracing:
            tracemalloc.stop()


def raise_fd_limit(needed: int) -> None:
    """Raise the soft limit on open files to ``needed``, or skip saying why not."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} open files; the hard limit (ulimit -Hn) is {hard}")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    except (ValueError, OSError) as exc:
        pytest.skip(f"needs {needed} open files; raising the soft limit from {soft} failed: {exc}")


# -------------------------------------------------------------------- peers


class PeerProcess:
    """``tests.reliability.peer`` (websockets' server) running in a child process."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.peer"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the peer process did not start (first line {line!r})")
        self.port = int(line)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        process = self._process
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def peer_process() -> Iterator[PeerProcess]:
    """A websockets server in its own process (its memory and fds are not ours)."""
    peer = PeerProcess()
    yield peer
    peer.stop()


# ----------------------------------------------------------- quiet failures

_WATCHED_LOGGERS = ("asyncio", "trio", "openwire")


@pytest.fixture(autouse=True)
def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test during which asyncio, trio or openwire logged an error."""
    caplog.set_level(logging.ERROR)
    yield
    bad = [
        record
        for record in caplog.get_records("call")
        if record.levelno >= logging.ERROR
        and (
            record.name.split(".")[0] in _WATCHED_LOGGERS
            or "Task was destroyed" in record.getMessage()
        )
    ]
    if bad:
        lines = "\n".join(f"{r.name}: {r.getMessage()}" for r in bad[:10])
        pytest.fail(f"{len(bad)} error(s) logged during the test:\n{lines}", pytrace=False)
