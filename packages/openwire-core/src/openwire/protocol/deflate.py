"""permessage-deflate (RFC 7692): the offer, the server's answer, and the transform.

Three pieces, used for every engine:

- :func:`offer`, what the client asks for, built from the call's
  :class:`~openwire.compression.Deflate` policy (RFC 7692 §7.1 parameters);
- :func:`negotiate`, which checks the server's ``Sec-WebSocket-Extensions``
  against §7.1 *and against the offer* and returns the agreed
  :class:`DeflateParameters`;
- :class:`PerMessageDeflate`, one connection's compressor and decompressor
  (§7.2), honouring the agreed windows and context takeover, with the
  decompressed size bounded by ``max_message_size``.

Choices, and why:

- The default offer is ``permessage-deflate; client_max_window_bits``, as
  websockets' client sends it: the server may shrink our compression window
  (saving *its* memory), and picks its own window freely. We do not ask for a
  small server window unless the policy says so, because servers that cannot
  honour one must decline the whole offer (§7.1.2.1), which would cost
  compression altogether.
- Messages shorter than the policy's ``min_size`` (:data:`MIN_COMPRESS_SIZE`
  by default) are sent uncompressed (RSV1 clear), which §6 allows in a
  deflate session; ``send(data, compress=...)`` overrides that per message.
  The default is measured in ``bench/deflate_size.py``.
- The compressor uses ``memLevel=5`` by default (as websockets does): about
  144 KiB per connection at a 15-bit window instead of 256 KiB, for a
  slightly lower ratio. zlib objects are created on first use, so an idle
  connection holds none (``bench/deflate_memory.py``); with context takeover
  they then live as long as the connection, without it they are dropped
  after each message.
- When our window is limited to 8 bits (``client_max_window_bits=8``),
  messages are sent uncompressed only: zlib cannot produce raw deflate with
  a 256-byte window, and sending uncompressed is always allowed (§6).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from openwire.compression import Deflate
from openwire.errors import InvalidExtension, PayloadTooBig, ProtocolError
from openwire.protocol.frames import CloseCode

__all__ = [
    "MIN_COMPRESS_SIZE",
    "NAME",
    "OFFER",
    "CompressingEncoder",
    "DeflateNegotiation",
    "DeflateParameters",
    "PerMessageDeflate",
    "negotiate",
    "offer",
]

NAME = "permessage-deflate"
_DEFAULT = Deflate()
MIN_COMPRESS_SIZE = _DEFAULT.min_size

# §7.2.1: the compressor's sync flush ends with this empty stored block,
# which the sender strips and the receiver (§7.2.2) appends again.
_TAIL = b"\x00\x00\xff\xff"
_NEVER = 1 << 62

# RFC 6455 §9.1: extension = token *(";" token ["=" (token | quoted-string)]).
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_NAME_RE = re.compile(rf"[ \t]*({_TOKEN})[ \t]*")
_PARAM_RE = re.compile(rf"[ \t]*({_TOKEN})[ \t]*(?:=[ \t]*({_TOKEN}|\"(?:[^\"\\]|\\.)*\")[ \t]*)?")
# §7.1.2.1/§7.1.2.2: a decimal 8-15 without leading zeros.
_WINDOW_BITS = re.compile(r"8|9|1[0-5]")


@dataclass(frozen=True, slots=True)
class DeflateParameters:
    """What was agreed (RFC 7692 §7.1), with the policy's local knobs; defaults are the RFC's.

    ``client_no_context_takeover`` is true when either side asked for it
    (ours is a promise we keep, §7.1.1.2); ``client_max_window_bits`` is the
    server's limit or the one we offered.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15
    min_size: int = MIN_COMPRESS_SIZE
    level: int = _DEFAULT.level
    mem_level: int = _DEFAULT.mem_level


def offer(policy: Deflate) -> str:
    """The ``Sec-WebSocket-Extensions`` value offering ``policy`` (RFC 7692 §7.1)."""
    parts = [NAME]
    if policy.server_no_context_takeover:
        parts.append("server_no_context_takeover")
    if policy.client_no_context_takeover:
        parts.append("client_no_context_takeover")
    if policy.server_max_window_bits is not None:
        parts.append(f"server_max_window_bits={policy.server_max_window_bits}")
    if policy.client_max_window_bits is None:
        parts.append("client_max_window_bits")
    else:
        parts.append(f"client_max_window_bits={policy.client_max_window_bits}")
    return "; ".join(parts)


OFFER = offer(_DEFAULT)


def _parse(values: Sequence[str]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Split header values into ``(name, [(param, value)])`` elements (RFC 6455 §9.1)."""
    elements: list[tuple[str, list[tuple[str, str | None]]]] = []
    for value in values:
        pos, end = 0, len(value)
        while pos < end:
            if value[pos] in ", \t":
                pos += 1
                continue
            match = _NAME_RE.match(value, pos)
            if match is None:
                raise InvalidExtension(f"malformed Sec-WebSocket-Extensions value {value!r}")
            params: list[tuple[str, str | None]] = []
            elements.append((match.group(1), params))
            pos = match.end()
            while pos < end and value[pos] == ";":
                match = _PARAM_RE.match(value, pos + 1)
                if match is None:
                    raise InvalidExtension(f"malformed Sec-WebSocket-Extensions value {value!r}")
                raw = match.group(2)
                if raw is not None and raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                params.append((match.group(1), raw))
                pos = match.end()
            if pos < end and value[pos] != ",":
                raise InvalidExtension(f"malformed Sec-WebSocket-Extensions value {value!r}")
    return elements


def negotiate(
    accepted: Sequence[str], policy: Deflate | None = _DEFAULT
) -> DeflateParameters | None:
    """The parameters the server's answer selects, ``None`` if it accepted nothing.

    ``policy`` is what was offered (``None``: nothing was). RFC 7692 §7.1:
    the client must fail the connection when the response has a parameter
    not defined for responses, an invalid value, or the same parameter
    twice; so must it when the server accepts something we did not offer,
    accepts our single offer twice (RFC 6455 §9.1), answers a window we
    asked to limit with a larger one or none (§7.1.2.1), limits our window
    beyond the limit we offered (§7.1.2.2), or leaves out the
    ``server_no_context_takeover`` we asked for (§7.1.1.1).
    """
    if not accepted:  # the usual answer when nothing was offered
        return None
    elements = _parse(accepted)
    if not elements:
        return None
    names = [name for name, _ in elements]
    if policy is None:
        raise InvalidExtension(
            f"the server accepted extensions {names}, but none was offered "
            "(compression=None); a server may only accept what the client offers "
            "(RFC 6455 §9.1)"
        )
    if names != [NAME]:
        raise InvalidExtension(
            f"the server accepted extensions {names}; only one {NAME} was offered"
        )
    seen: dict[str, str | None] = {}
    for param, value in elements[0][1]:
        if param in seen:
            raise InvalidExtension(
                f"the server's {NAME} response repeats {param!r} (RFC 7692 §7.1)"
            )
        seen[param] = value
        if param in ("server_no_context_takeover", "client_no_context_takeover"):
            # §7.1.1.1, §7.1.1.2: flags without a value.
            if value is not None:
                raise InvalidExtension(
                    f"the server's {NAME} parameter {param} must have no value, got "
                    f"{value!r} (RFC 7692 §7.1.1)"
                )
        elif param in ("server_max_window_bits", "client_max_window_bits"):
            # §7.1.2.1: the server may state its own window unasked; §7.1.2.2:
            # it may limit ours because the offer carries client_max_window_bits.
            # In a response both need a value.
            if value is None or not _WINDOW_BITS.fullmatch(value):
                raise InvalidExtension(
                    f"the server's {NAME} parameter {param} must be an integer from 8 "
                    f"to 15, got {value!r} (RFC 7692 §7.1.2)"
                )
        else:
            raise InvalidExtension(
                f"the server's {NAME} response has unknown parameter {param!r} (RFC 7692 §7.1)"
            )
    if policy.server_no_context_takeover and "server_no_context_takeover" not in seen:
        raise InvalidExtension(
            f"the server accepted {NAME} without the server_no_context_takeover that was "
            "offered; a server that cannot honour it must decline the offer "
            "(RFC 7692 §7.1.1.1). Drop server_no_context_takeover from the policy to "
            "talk to this server"
        )
    server_bits = int(seen.get("server_max_window_bits") or 15)
    limit = policy.server_max_window_bits
    if limit is not None and ("server_max_window_bits" not in seen or server_bits > limit):
        raise InvalidExtension(
            f"the server answered server_max_window_bits="
            f"{seen.get('server_max_window_bits')} to an offer of {limit}; it must answer "
            "the same or a smaller value, or decline (RFC 7692 §7.1.2.1)"
        )
    client_bits = policy.client_max_window_bits or 15
    if "client_max_window_bits" in seen:
        asked = int(seen["client_max_window_bits"] or 15)
        if asked > client_bits:
            raise InvalidExtension(
                f"the server answered client_max_window_bits={asked} to an offer of "
                f"{client_bits}; it may only lower our window (RFC 7692 §7.1.2.2)"
            )
        client_bits = asked
    return DeflateParameters(
        server_no_context_takeover="server_no_context_takeover" in seen,
        client_no_context_takeover=(
            policy.client_no_context_takeover or "client_no_context_takeover" in seen
        ),
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
        min_size=policy.min_size,
        level=policy.level,
        mem_level=policy.mem_level,
    )


class PerMessageDeflate:
    """One connection's permessage-deflate state (RFC 7692 §7.2).

    ``decompress`` is fed the payload of each frame of a compressed message
    in turn and refuses to produce more than ``max_message_size`` bytes per
    message, so a small compressed frame cannot inflate into unbounded memory
    (the limits RFC 6455 §10.4 requires hold after decompression too).
    """

    __slots__ = (
        "_compress_bits",
        "_decoder",
        "_encoder",
        "_inflate_bits",
        "_level",
        "_limit",
        "_mem_level",
        "_reset_decoder",
        "_reset_encoder",
        "_size",
        "can_compress",
        "min_size",
        "parameters",
    )

    def __init__(self, params: DeflateParameters, max_message_size: int | None) -> None:
        self.parameters = params
        self._limit = max_message_size
        self._size = 0
        self._reset_decoder = params.server_no_context_takeover
        self._reset_encoder = params.client_no_context_takeover
        # A larger window than the server's can inflate anything it sends; 9
        # also covers zlib-based servers, which silently turn 8 into 9.
        self._inflate_bits = max(params.server_max_window_bits, 9)
        self._compress_bits = params.client_max_window_bits
        self._level = params.level
        self._mem_level = params.mem_level
        self._decoder: zlib._Decompress | None = None
        self._encoder: zlib._Compress | None = None
        # Shorter messages are sent uncompressed (module docstring), and
        # none at all with an 8-bit window.
        self.can_compress = self._compress_bits > 8
        self.min_size = params.min_size if self.can_compress else _NEVER

    def should_compress(self, size: int, compress: bool | None) -> bool:
        """Whether a message of ``size`` bytes goes compressed: the one rule, for every codec.

        ``compress`` is the per-message override of ``send``: ``None``
        follows the policy (from ``min_size`` up), ``False`` never, ``True``
        whatever the size; never with an 8-bit window.
        """
        if compress is None:
            return size >= self.min_size
        return compress and self.can_compress

    def decompress(self, payload: bytes, final: bool, bound: int | None = None) -> bytes:
        """Inflate one frame of a compressed message; ``final`` on its last frame.

        Raises :class:`~openwire.errors.PayloadTooBig` once the message would
        exceed ``max_message_size`` (having inflated at most one byte more),
        and :class:`~openwire.errors.ProtocolError` with 1007 for data that is
        not valid deflate: like invalid UTF-8 in text, the payload does not
        match what the frame claims to carry (RFC 6455 §7.4.1).

        ``bound``, when given, replaces that per-message limit for this call:
        the frame may inflate to at most ``bound`` bytes (a streaming receive
        hands each frame out as it is inflated and keeps the message's count
        itself, so it bounds the frame).
        """
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = zlib.decompressobj(wbits=-self._inflate_bits)
        if final:
            payload += _TAIL  # §7.2.2
        try:
            if bound is not None:
                data = decoder.decompress(payload, bound + 1)
                if len(data) > bound:
                    raise PayloadTooBig(
                        f"received a compressed frame that inflates past {bound} bytes; "
                        "stopped inflating there (RFC 6455 §10.4)"
                    )
            elif self._limit is None:
                data = decoder.decompress(payload)
            else:
                room = self._limit - self._size
                data = decoder.decompress(payload, room + 1)
                if len(data) > room:
                    raise PayloadTooBig(
                        f"received a compressed message that inflates past max_message_size "
                        f"({self._limit} bytes); stopped inflating there (RFC 6455 §10.4)"
                    )
        except zlib.error as exc:
            raise ProtocolError(
                f"received a compressed message that is not valid deflate data ({exc}); "
                "failing with 1007 (RFC 7692 §7.2.2, RFC 6455 §7.4.1)",
                close_code=CloseCode.INVALID_FRAME_PAYLOAD_DATA,
            ) from None
        if final:
            self._size = 0
            # §7.1.1.1: no shared history to keep; a stream the server ended
            # with BFINAL (§7.2.3.4) cannot be continued either.
            if self._reset_decoder or decoder.eof:
                self._decoder = None
        else:
            self._size += len(data)
        return data

    def compress(self, data: bytes) -> bytes:
        """Deflate one whole message, without the §7.2.1 tail."""
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = zlib.compressobj(
                self._level, zlib.DEFLATED, -self._compress_bits, self._mem_level
            )
        out = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
        if self._reset_encoder:
            # §7.1.1.2: the server keeps no history of ours, so neither may we.
            self._encoder = None
        return out[:-4]


class DeflateNegotiation:
    """The extension half of a WebSocketEngine that offers permessage-deflate.

    Engines inherit it so that every one of them sends the same offer and
    accepts or refuses the same server answers (RFC 7692 §7.1).
    """

    def extension_offers(self, compression: Deflate | str | None) -> list[str]:
        policy = Deflate.of(compression)
        return [] if policy is None else [offer(policy)]

    def accept_extensions(self, accepted: list[str]) -> list[str]:
        # Raises InvalidExtension for anything §7.1 tells a client to refuse
        # whatever was offered; the core checks the answer against the
        # call's own offer when it opens the connection (negotiate with the
        # policy). What it accepts is passed back to connect() unchanged.
        negotiate(accepted)
        return list(accepted)


class _Framing(Protocol):
    """What :class:`CompressingEncoder` needs from the codec it is mixed into."""

    _deflate: PerMessageDeflate | None

    def encode_frame(
        self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, /
    ) -> bytes: ...


class CompressingEncoder:
    """``encode_message`` for the native codec with permessage-deflate negotiated.

    Mixed in before the codec class, which supplies ``_deflate`` and
    ``encode_frame``. A separate class rather than a branch in the codec, so
    a connection without the extension does not test for it on every send.
    """

    __slots__ = ()

    def encode_message(self: _Framing, data: str | bytes, compress: bool | None = None) -> bytes:
        """A data message, compressed with RSV1 set unless it stays plain (RFC 7692 §6).

        ``compress``: ``None`` compresses from the policy's ``min_size`` up,
        ``False`` never, ``True`` whatever the size (when the window allows).
        """
        deflate = self._deflate
        assert deflate is not None
        if isinstance(data, str):
            opcode, payload = 1, data.encode("utf-8")
        else:
            opcode, payload = 2, data
        if deflate.should_compress(len(payload), compress):
            return self.encode_frame(opcode, deflate.compress(payload), True, True)
        return self.encode_frame(opcode, payload)
