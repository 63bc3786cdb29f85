"""The websockets engine: websockets' Sans-I/O frame layer parses and writes frames.

A translator, nothing more. The core's reader (``openwire.protocol.reader``)
vets every header before websockets sees it and applies every rule after
(fragmentation, UTF-8, limits, permessage-deflate, close payloads); this
module reads frames with the public ``websockets.frames.Frame.parse`` over
websockets' ``StreamReader`` and writes them with ``Frame.serialize``, which
masks with websockets' C speedups.

``websockets.protocol.Protocol`` (the layer above) is deliberately not used:
it is a connection state machine that reacts to what it parses (queues pongs
and Close echoes, parses Close payloads itself, stops reading after a Close),
decisions the core owns.

``Frame.check`` refuses any RSV bit, so with permessage-deflate negotiated a
pass-through websockets extension records RSV1 and clears it on the way in,
and sets it on the way out; websockets' own ``PerMessageDeflate`` is not
used, because the core inflates with a bound on the whole message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Sequence

from openwire.engines.contract import ENGINE_API_VERSION, EngineCapabilities, EngineSettings
from openwire.errors import PayloadTooBig, ProtocolError
from openwire.protocol import deflate
from openwire.protocol.frames import Frame
from websockets.exceptions import PayloadTooBig as WsPayloadTooBig
from websockets.exceptions import ProtocolError as WsProtocolError
from websockets.extensions.base import Extension
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader
from websockets.typing import ExtensionName

__all__ = ["WebsocketsConnection", "WebsocketsEngine"]

_OPCODES = {int(op): op for op in Opcode}
_NONE: list[Extension] = []


class _Rsv1(Extension):
    """Carries RSV1 past ``Frame.check``: recorded and cleared on parse, set on serialise."""

    name = ExtensionName(deflate.NAME)

    def __init__(self) -> None:
        self.rsv1 = False

    def decode(self, frame: WsFrame, *, max_size: int | None = None) -> WsFrame:
        self.rsv1 = frame.rsv1
        return dataclasses.replace(frame, rsv1=False) if frame.rsv1 else frame

    def encode(self, frame: WsFrame) -> WsFrame:
        return dataclasses.replace(frame, rsv1=True)


class WebsocketsConnection:
    """One upgraded connection: ``Frame.parse`` in, ``Frame.serialize`` out."""

    __slots__ = ("_frames", "_parser", "_reader", "_rsv", "_rsv_list")

    def __init__(self, max_frame_size: int | None, deflate_negotiated: bool) -> None:
        self._reader = StreamReader()
        self._frames: list[Frame] = []
        self._rsv = _Rsv1() if deflate_negotiated else None
        self._rsv_list = _NONE if self._rsv is None else [self._rsv]
        # websockets' own size check stays on as a second bound.
        self._parser = self._parse(max_frame_size, self._rsv_list)
        next(self._parser)

    def _parse(
        self, max_size: int | None, extensions: Sequence[Extension]
    ) -> Generator[None, None, None]:
        read_exact = self._reader.read_exact
        rsv = self._rsv
        while True:
            frame = yield from WsFrame.parse(
                read_exact, mask=False, max_size=max_size, extensions=extensions
            )
            rsv1 = rsv is not None and rsv.rsv1
            self._frames.append(Frame(frame.opcode.value, frame.fin, rsv1, bytes(frame.data)))

    def receive_frames(self, data: bytes, /) -> list[Frame]:
        """Parse ``data`` with websockets' ``Frame.parse``; return the frames now complete."""
        self._reader.feed_data(data)
        try:
            next(self._parser)
        except (WsPayloadTooBig, WsProtocolError) as exc:
            kind = PayloadTooBig if isinstance(exc, WsPayloadTooBig) else ProtocolError
            refusal = kind(f"websockets rejected a frame from the server: {exc}")
            refusal.events = self._frames  # completed before the refusal: delivered first
            raise refusal from None
        frames = self._frames
        if frames:
            self._frames = []
        return frames

    def encode_frame(
        self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, /
    ) -> bytes:
        """Serialise and mask one frame with websockets' ``Frame.serialize`` (C masking)."""
        frame = WsFrame(_OPCODES[opcode], payload, fin)
        return frame.serialize(mask=True, extensions=self._rsv_list if rsv1 else _NONE)


class WebsocketsEngine(deflate.DeflateNegotiation):
    """websockets' frame codec; sans-I/O, so it runs on asyncio and trio; permessage-deflate."""

    api_version = ENGINE_API_VERSION
    name = "websockets"
    capabilities = EngineCapabilities(extensions=(deflate.NAME,), backends=("asyncio", "trio"))

    def connect(self, settings: EngineSettings) -> WebsocketsConnection:
        """One WebSocket's codec; RSV1 is admitted only if permessage-deflate was agreed."""
        negotiated = deflate.negotiate(settings.extensions) is not None
        return WebsocketsConnection(settings.max_frame_size, negotiated)
