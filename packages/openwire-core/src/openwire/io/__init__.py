"""Moving bytes: the network streams, the WebSocket channels and the runtime.

Everything that touches a socket, a task or a timer for a WebSocket lives
here, behind small interfaces, so the session above it is driven like a
protocol and never sees which event loop runs it:

- ``asyncio_stream``  the network stream on asyncio (and uvloop): a protocol
  on the loop's transport, handed whole to the WebSocket after a ``101``
- ``channel``         the session's byte pipe: on asyncio the transport
  itself, elsewhere reader and writer tasks over a stream
- ``runtime``         detached tasks, timers and waiters for asyncio and trio
"""
