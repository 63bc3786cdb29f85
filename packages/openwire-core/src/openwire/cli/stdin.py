"""Lines from stdin without blocking the event loop, on asyncio and trio alike.

A plain ``sys.stdin.readline`` in a worker thread cannot be interrupted: the
interpreter would wait for it at exit (anyio's and asyncio's workers are not
daemon threads), so a server that closes while the user is not typing would
leave the command hanging until Enter. Reading the raw descriptor from our
own daemon thread avoids that, and never holds the lock of ``sys.stdin``'s
buffer, which a daemon thread must not do at interpreter shutdown.

The thread reads its own duplicate of the descriptor, closed when it is
done. A pump that is still starting when its caller has finished (the
server closed at once) must not read whatever the descriptor's number
refers to by then: once the caller closes its descriptor, the number is
free for the next file opened, and a pump reading it would swallow another
reader's input and deliver it to a loop that is gone.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import AsyncIterator

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream

__all__ = ["stdin_lines"]


def _pump(
    fd: int, send: MemoryObjectSendStream[bytes], token: anyio.lowlevel.EventLoopToken
) -> None:
    """Read chunks until EOF and hand them to the loop, waiting while it is busy.

    ``fd`` belongs to this thread and is closed here.
    """
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                break
            anyio.from_thread.run(send.send, chunk, token=token)
    except Exception:
        # The loop is gone or nobody listens any more: nothing left to feed.
        return
    finally:
        try:
            anyio.from_thread.run_sync(send.close, token=token)
        except Exception:
            # The loop is gone, so nothing else touches the stream: close it
            # here, or it would only be released (and reported) by the GC.
            send.close()
        os.close(fd)


async def stdin_lines(fd: int | None = None) -> AsyncIterator[bytes]:
    """Each line of stdin as bytes, without its line ending; the last may lack one."""
    if fd is None:
        fd = sys.stdin.fileno()
    send, receive = anyio.create_memory_object_stream[bytes](4)
    token = anyio.lowlevel.current_token()
    own = os.dup(fd)
    thread = threading.Thread(
        target=_pump, args=(own, send, token), name="openwire-stdin", daemon=True
    )
    thread.start()
    pending = b""
    async with receive:
        async for chunk in receive:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.removesuffix(b"\r")
    if pending:
        yield pending.removesuffix(b"\r")
