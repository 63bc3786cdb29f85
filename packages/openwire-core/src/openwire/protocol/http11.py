"""The bytes of an upgrade exchange: the request, and the heads of the answer.

Rules, in the order they are checked while a head arrives (RFC 9112 §2-§5):

- A head is a status line, field lines and a blank line; lines end with
  CRLF or a bare LF (as h11 accepts).
- **Bounded while reading**, before anything is parsed, so a hostile peer
  cannot make us buffer more than this per head:

  ============== ====================== =========================================
  limit          value                  peers
  ============== ====================== =========================================
  ``line``       8 KiB per line         websockets 8 KiB, aiohttp 8190 bytes
                 (:data:`MAX_LINE`)     (line end not counted)
  ``fields``     128 field lines        websockets 128 fields; continuation
                 (:data:`MAX_FIELDS`)   lines of obs-fold count as lines
  ``head``       64 KiB per head        the whole head with its line ends and
                 (:data:`MAX_HEAD`)     blank line; h11 (httpcore) allows 100 KiB
  ``interim``    8 interim 1xx heads    before the final answer
                 (:data:`MAX_INTERIM`)
  ============== ====================== =========================================

  A line over :data:`MAX_LINE` is refused as soon as the buffered part of it
  is longer than the limit (plus one byte for a CR), not once it ends.
- Status line: ``HTTP/1.x SP 3DIGIT [SP reason]``; a ``1.x`` other than
  ``1.0`` and ``1.1`` is read as 1.1 (RFC 9112 §2.3); status 100-999, as h11.
  ``HTTP/1.0 101`` is refused: HTTP/1.0 has no Upgrade (RFC 9110 §7.8,
  RFC 6455 §4.1).
- Field lines: a token name, a colon, optional whitespace, a value without
  control characters (HTAB aside; RFC 9110 §5.5), optional whitespace.
  Obsolete line folding is unfolded into one space (RFC 9112 §5.2); a
  continuation line right after the status line is refused.

A WebSocket handshake sends one bodiless request and, when it succeeds, reads
one head with no body. h11 handles every HTTP/1.1 case and costs ~100 µs
doing it, a tenth of a whole handshake; :class:`HeadReader` handles just the
heads, with h11's rules (``tests/http/test_http11_differential.py`` proves
they agree, and lists the deliberate differences: the limits above, control
characters, HTTP/1.0 101, major versions other than 1). Anything other than
a ``101`` is then handed to h11 by the upgrade connector, which frames the
body; proxy ``CONNECT`` answers are read with the same reader.

Plain calls go through httpcore, whose h11 bounds a head at 100 KiB while
reading; the transport applies :func:`check_fields` to what it returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_FIELDS",
    "MAX_HEAD",
    "MAX_INTERIM",
    "MAX_LINE",
    "Head",
    "HeadReader",
    "HeadRefused",
    "InvalidRequestHead",
    "check_fields",
    "parse_response_head",
    "serialize_request",
]

MAX_LINE = 8 * 1024
MAX_FIELDS = 128
MAX_HEAD = 64 * 1024
MAX_INTERIM = 8

# RFC 9110 §5.1 field-name = token; §5.5 field-value: no CTLs but HTAB.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
# The value is taken greedily and its trailing SP/HTAB stripped after: a lazy
# value before "[ \t]*" makes the engine retry the tail at every byte.
_FIELD_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)")
# RFC 9112 §5.2: a client must unfold obs-fold (a line starting with SP or
# HTAB continues the previous field) into a space, as h11 does.
_BLANK = (b" ", b"\t")
_OBS_FOLD = re.compile(rb"\r?\n[ \t]+")

# Fields that passed serialize_request's checks, so a field sent again (the
# same Host, User-Agent, Upgrade... on every handshake) is not checked again;
# only new ones are. Bounded: past the bound, new fields are checked every
# time, and so are long ones (at most 128 KiB kept). Never kept: a key that
# is fresh on every handshake (it would only fill the set), and credentials,
# which must not outlive the request that carried them.
_CHECKED_FIELDS: set[tuple[bytes, bytes]] = set()
_CHECKED_MAX = 512
_CHECKED_SIZE = 256
_NEVER_KEPT = frozenset({b"sec-websocket-key", b"authorization", b"proxy-authorization", b"cookie"})

_LIMITS = {
    "line": (MAX_LINE, "a header line over {} bytes (the limit per line)"),
    "fields": (MAX_FIELDS, "more than {} header lines (the limit on fields)"),
    "head": (MAX_HEAD, "a head over {} bytes (the limit per head)"),
    "interim": (MAX_INTERIM, "more than {} interim 1xx heads before the answer"),
}


class HeadRefused(Exception):
    """A response head we will not read: malformed, or over one of the limits.

    The transport translates it into the typed openwire error; ``limit`` (``"line"``, ``"fields"``,
    ``"head"``, ``"interim"``, or ``None`` when the head is malformed) and
    ``maximum`` let it raise the typed openwire error.
    """

    def __init__(self, message: str, *, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.maximum = _LIMITS[limit][0] if limit is not None else None

    @classmethod
    def over(cls, limit: str) -> HeadRefused:
        maximum, words = _LIMITS[limit]
        return cls(f"the response has {words.format(maximum)}", limit=limit)


@dataclass(slots=True)
class Head:
    """One parsed response head."""

    status: int
    reason: bytes
    fields: list[tuple[bytes, bytes]]
    version: bytes = b"1.1"


class HeadReader:
    """Response heads from bytes as they arrive, up to the final answer.

    Sans-I/O, like h11: :meth:`feed` what the socket gave; it returns the
    final head (a ``101`` or any status from 200) once it is complete, and
    :attr:`rest` holds what came after it (the first WebSocket frames, or
    the body of a rejection). Interim 1xx heads are read, counted and
    skipped. Every limit of the module docstring is checked as bytes
    arrive, so the buffer never holds more than one head over the limits.
    """

    __slots__ = ("_buffer", "_fields", "_line", "_start", "interim", "raw", "rest")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._start = 0  # where the head being read begins
        self._line = 0  # where its current line begins
        self._fields = -1  # complete lines after the status line
        self.interim = 0
        self.raw = b""  # the final head as received, blank line included
        self.rest = b""

    @property
    def buffered(self) -> int:
        """Bytes of a head still incomplete (0 between heads)."""
        return len(self._buffer) - self._start

    def feed(self, data: bytes) -> Head | None:
        """The final head once complete, else ``None``; raises :class:`HeadRefused`."""
        buffer = self._buffer
        buffer += data
        while True:
            line = self._line
            end = buffer.find(b"\n", line)
            if end < 0:
                if len(buffer) - line > MAX_LINE + 1:  # +1: a CR waiting for its LF
                    raise HeadRefused.over("line")
                if len(buffer) - self._start > MAX_HEAD:
                    raise HeadRefused.over("head")
                if len(buffer) > self._start and buffer[self._start] < 0x21:
                    # Fail fast, as h11 does: no status line starts with a space or control.
                    raise HeadRefused(
                        f"malformed status line {bytes(buffer[self._start : self._start + 100])!r}"
                    )
                return None
            length = end - line - (end > line and buffer[end - 1] == 0x0D)
            if length > MAX_LINE:
                raise HeadRefused.over("line")
            if end + 1 - self._start > MAX_HEAD:
                raise HeadRefused.over("head")
            self._line = end + 1
            if length or self._fields < 0:
                self._fields += 1
                if self._fields > MAX_FIELDS:
                    raise HeadRefused.over("fields")
                if length or self._fields:
                    continue
            head = parse_response_head(bytes(buffer[self._start : line]))
            self._fields = -1
            if head.status == 101 or head.status >= 200:
                self.raw = bytes(buffer[self._start : self._line])
                self.rest = bytes(buffer[self._line :])
                buffer.clear()
                self._start = self._line = 0
                return head
            self.interim += 1
            if self.interim > MAX_INTERIM:
                raise HeadRefused.over("interim")
            del buffer[: self._line]  # only the heads still to come are kept
            self._start = self._line = 0


def check_fields(reason: bytes, fields: list[tuple[bytes, bytes]]) -> None:
    """The limits a head read by someone else (httpcore) can still be held to.

    Line lengths are measured as ``name: value`` (the form on the wire,
    after unfolding); the total was bounded by h11 while reading.
    """
    if len(fields) > MAX_FIELDS:
        raise HeadRefused.over("fields")
    if len(reason) + 13 > MAX_LINE:  # "HTTP/1.1 200 " + reason
        raise HeadRefused.over("line")
    for name, value in fields:
        if len(name) + len(value) + 2 > MAX_LINE:
            raise HeadRefused.over("line")


class InvalidRequestHead(ValueError):
    """A request line or header that would break HTTP/1.1 framing if sent."""


def serialize_request(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """``method target HTTP/1.1`` and the fields, refusing what would break the framing."""
    if not _TOKEN.fullmatch(method) or _BAD_VALUE.search(target) or b" " in target:
        raise InvalidRequestHead(f"invalid request line: {method!r} {target!r}")
    lines = [method + b" " + target + b" HTTP/1.1"]
    checked = _CHECKED_FIELDS
    for name, value in headers:
        lines.append(name + b": " + value)
        if (name, value) in checked:
            continue
        if not _TOKEN.fullmatch(name):
            raise InvalidRequestHead(f"invalid header name {name!r}")
        if _BAD_VALUE.search(value):
            raise InvalidRequestHead(
                f"header {name.decode('latin-1')} has a control character in {value!r}"
            )
        if value[:1] in _BLANK or value[-1:] in _BLANK:
            raise InvalidRequestHead(
                f"header {name.decode('latin-1')} has leading or trailing whitespace: {value!r}"
            )
        if (
            len(checked) < _CHECKED_MAX
            and len(name) + len(value) <= _CHECKED_SIZE
            and name.lower() not in _NEVER_KEPT
        ):
            checked.add((name, value))
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def parse_response_head(head: bytes) -> Head:
    """One head without its blank line, every line with its end; strict, like h11.

    Exactly one CR is taken off each line end, so ``\\r\\r\\n`` leaves a
    CR in the line, which is then refused as h11 refuses it. Sizes are the
    reader's business: this sees only heads within the limits.
    """
    status_line, _, rest = head.partition(b"\n")
    rest = rest.removesuffix(b"\n").removesuffix(b"\r")
    match = _STATUS_LINE.fullmatch(status_line.removesuffix(b"\r"))
    if match is None:
        raise HeadRefused(
            f"malformed status line {status_line[:100]!r}; expected 'HTTP/1.1 <3 digits> <reason>'"
        )
    status = int(match[2])
    version = b"1.0" if match[1] == b"0" else b"1.1"
    if status < 100:
        raise HeadRefused(f"status {status} in {status_line[:100]!r} is not an HTTP status")
    if status == 101 and version == b"1.0":
        raise HeadRefused(
            "the server answered 'HTTP/1.0 101': HTTP/1.0 has no protocol upgrade "
            "(RFC 9110 §7.8); a 101 must come as HTTP/1.1"
        )
    if rest[:1] in _BLANK:
        raise HeadRefused("the first header line is a continuation line")
    fields: list[tuple[bytes, bytes]] = []
    if rest:
        if b"\n " in rest or b"\n\t" in rest:
            rest = _OBS_FOLD.sub(b" ", rest)
        # Each line end loses one CR, as a split on CR? LF would take it.
        for line in rest.replace(b"\r\n", b"\n").split(b"\n"):
            field = _FIELD_LINE.fullmatch(line)
            if field is None:
                raise HeadRefused(f"malformed header line {line[:100]!r}")
            fields.append((field[1], field[2].rstrip(b" \t")))
    return Head(status, match[3] or b"", fields, version)
