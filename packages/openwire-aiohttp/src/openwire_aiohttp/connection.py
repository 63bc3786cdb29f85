"""One connection's frame codec, built on aiohttp's compiled frame reader and masking.

A translator, nothing more. The core's reader (``openwire.protocol.reader``)
vets every header before aiohttp's reader sees it and applies every rule
after (fragmentation, UTF-8, limits, permessage-deflate, close payloads).
aiohttp's reader slices complete frames out of the byte stream in C; its
message layer (reassembly, decoding, inflating, Close validation) is cut off
in ``_compat.FrameReader``, so nothing of aiohttp's own policy reaches the
session. The private names live in ``_compat``.

aiohttp's reader takes a control frame's length from the 7-bit field only, so
it would refuse a Ping whose length uses a longer form than needed (§5.2
binds the sender; every engine accepts it). ``minimal_control_lengths`` asks
the core to rewrite such a header to the minimal form first.
"""

from __future__ import annotations

from openwire.errors import ProtocolError
from openwire.protocol.frames import Frame
from openwire.protocol.masking import FrameMasker

from openwire_aiohttp import _compat

__all__ = ["AiohttpConnection"]


class AiohttpConnection(FrameMasker):
    """aiohttp's C reader in, the core's frame writer with aiohttp's C masking out."""

    __slots__ = ("_reader",)

    minimal_control_lengths = True
    mask_into = staticmethod(_compat.websocket_mask)

    def __init__(self) -> None:
        super().__init__()
        self._reader = _compat.FrameReader()

    def receive_frames(self, data: bytes, /) -> list[Frame]:
        """Slice complete frames out of ``data`` with aiohttp's compiled reader."""
        reader = self._reader
        if reader.feed_data(data)[0]:
            exc = reader.queue_.exception()
            if isinstance(exc, _compat.WebSocketError):
                refusal = ProtocolError(
                    f"aiohttp's reader rejected a frame from the server: {exc}",
                    close_code=exc.code,
                )
                refusal.events = reader.frames  # completed first: delivered first
                reader.frames = []
                raise refusal from None
            # Not a refusal of the peer's bytes: a bug, for the session to report as 1011.
            raise exc if exc is not None else RuntimeError("aiohttp's reader failed silently")
        frames = reader.frames
        if frames:
            reader.frames = []
        return frames
