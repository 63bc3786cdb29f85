"""How an HTTP/2 stream's end is reported to the WebSocket it carried: one table.

A WebSocket over HTTP/2 ends normally with its close handshake and END_STREAM.
When the stream is reset instead (``RST_STREAM``), or the whole connection
ends with an error ``GOAWAY``, no Close frame arrived, and the WebSocket fails
with :class:`~openwire.errors.StreamReset` or :class:`~openwire.errors.GoAway`:
a :class:`~openwire.errors.ConnectionClosedError` whose ``code`` comes from
:data:`CLOSE_CODES` and whose ``error_code`` keeps the HTTP/2 code. The codes
are never sent (there is no stream left to send them on); they say what kind
of end it was, in the WebSocket's vocabulary, so code that handles closes
needs no HTTP/2 knowledge.
"""

from __future__ import annotations

from typing import Final

from openwire.errors import (
    GoAway,
    HTTP2StreamError,
    StreamReset,
    h2_error_name,
)

__all__ = ["CLOSE_CODES", "H2StreamError", "closed_error", "error_name"]

H2StreamError = HTTP2StreamError
error_name = h2_error_name

CLOSE_CODES: Final[dict[int, int]] = {
    0x0: 1006,  # NO_ERROR: the stream ended without a Close frame
    0x1: 1002,  # PROTOCOL_ERROR
    0x2: 1011,  # INTERNAL_ERROR
    0x3: 1002,  # FLOW_CONTROL_ERROR
    0x4: 1002,  # SETTINGS_TIMEOUT
    0x5: 1002,  # STREAM_CLOSED
    0x6: 1002,  # FRAME_SIZE_ERROR
    0x7: 1013,  # REFUSED_STREAM: try again later
    0x8: 1001,  # CANCEL: the peer is going away from this stream
    0x9: 1002,  # COMPRESSION_ERROR
    0xA: 1006,  # CONNECT_ERROR: the tunnel behind the stream broke
    0xB: 1008,  # ENHANCE_YOUR_CALM: the peer's policy (load) refused us
    0xC: 1008,  # INADEQUATE_SECURITY
    0xD: 1002,  # HTTP_1_1_REQUIRED
}
"""HTTP/2 error code → WebSocket close code; anything else is 1006."""


def closed_error(error: HTTP2StreamError) -> StreamReset | GoAway:
    """The WebSocket close that an HTTP/2 stream failure becomes once the WebSocket is open."""
    code = CLOSE_CODES.get(error.error_code, 1006)
    kind = GoAway if error.goaway else StreamReset
    message = f"{error} (reported as WebSocket close code {code})"
    closed = kind(code, message, error_code=error.error_code)
    closed.__cause__ = error
    return closed
