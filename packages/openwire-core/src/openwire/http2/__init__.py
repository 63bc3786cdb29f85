"""HTTP/2 for openwire: one connection on ``h2``, and WebSockets over its streams (RFC 8441).

:mod:`~openwire.http2.connection` is the connection (reader and writer tasks,
flow control, fair scheduling, GOAWAY and RST_STREAM); :mod:`~openwire.http2.codes`
maps how a stream ended to the WebSocket close it is reported as. The
transport's pool of these connections is :mod:`openwire.http.multiplex`.
"""

from openwire.http2.codes import CLOSE_CODES, closed_error
from openwire.http2.connection import H2Connection, H2Stream

__all__ = ["CLOSE_CODES", "H2Connection", "H2Stream", "closed_error"]
