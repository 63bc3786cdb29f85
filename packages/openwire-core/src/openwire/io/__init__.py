"""Moving bytes: one backend per async library behind one protocol.

Everything that touches a socket, a task or a timer lives here, so the
session above it is driven like a protocol and never sees which event loop
runs it. Read in this order:

- ``backend``          the :class:`~openwire.io.backend.Backend` protocol, the
  :class:`~openwire.io.backend.Detached` hand-over after a ``101``, and
  ``current_backend()`` (chosen once per call)
- ``runtime``          the runtime contract: detached tasks, timers, waiters
- ``channel``          the channel contract, and ``StreamChannel``: reader and
  writer tasks over any byte stream
- ``asyncio_backend``  asyncio and uvloop: the network stream, the connect,
  the runtime and the transport-level channel (no task per message)
- ``trio_backend``     trio: its runtime, anyio's sockets
"""
