"""The bytes of an upgrade exchange: the request, and the head of a ``101`` answer.

A WebSocket handshake sends one bodiless request and, when it succeeds,
reads one head with no body. h11 handles every HTTP/1.1 case and costs
~100 µs doing it, a tenth of a whole handshake; these two functions handle
just the handshake's shape, with the same rules h11 enforces on it (token
names, no control characters, no surrounding whitespace in values, obsolete
line folding unfolded as RFC 9112 §5.2 asks, bounded size).
Anything other than a ``101`` is handed to h11 by the upgrade connector,
which then frames the body.
"""

from __future__ import annotations

import re

import httpcore

__all__ = ["HEAD_END", "parse_response_head", "serialize_request"]

# Where a head ends; bare LF line ends are accepted, as h11 does.
HEAD_END = re.compile(rb"\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")

# RFC 9110 §5.1 field-name = token; §5.5 field-value: no CTLs but HTAB.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
_FIELD_LINE = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*"
)
# RFC 9112 §5.2: a client must unfold obs-fold (a line starting with SP or
# HTAB continues the previous field) into a space, as h11 does.
_BLANK = (b" ", b"\t")
_OBS_FOLD = re.compile(rb"\r?\n[ \t]+")


def serialize_request(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """``method target HTTP/1.1`` and the fields, refusing what would break the framing."""
    if not _TOKEN.fullmatch(method) or _BAD_VALUE.search(target) or b" " in target:
        raise httpcore.LocalProtocolError(f"invalid request line: {method!r} {target!r}")
    lines = [method + b" " + target + b" HTTP/1.1"]
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise httpcore.LocalProtocolError(f"invalid header name {name!r}")
        if _BAD_VALUE.search(value):
            raise httpcore.LocalProtocolError(
                f"header {name.decode('latin-1')} has a control character in {value!r}"
            )
        if value[:1] in _BLANK or value[-1:] in _BLANK:
            raise httpcore.LocalProtocolError(
                f"header {name.decode('latin-1')} has leading or trailing whitespace: {value!r}"
            )
        lines.append(name + b": " + value)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def parse_response_head(head: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """``(status, reason, fields)`` of a head without its blank line; strict, like h11.

    The head's size is bounded by the caller (100 KiB), which bounds the
    number of fields too.
    """
    status_line, _, rest = head.partition(b"\n")
    match = _STATUS_LINE.fullmatch(status_line.removesuffix(b"\r"))
    if match is None:
        raise httpcore.RemoteProtocolError(f"malformed status line {status_line[:100]!r}")
    if rest[:1] in _BLANK:
        raise httpcore.RemoteProtocolError("the first header line is a continuation line")
    fields: list[tuple[bytes, bytes]] = []
    for line in _LINE_END.split(_OBS_FOLD.sub(b" ", rest)) if rest else ():
        field = _FIELD_LINE.fullmatch(line)
        if field is None:
            raise httpcore.RemoteProtocolError(f"malformed header line {line[:100]!r}")
        fields.append((field[1], field[2]))
    return int(match[1]), match[2] or b"", fields
