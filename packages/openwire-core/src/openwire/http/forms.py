"""Request bodies from fields and files: ``data=`` (a URL-encoded form) and ``files=`` (multipart).

``data={"a": "1"}`` alone is ``application/x-www-form-urlencoded``, as a
browser sends a form. ``files=`` makes the body ``multipart/form-data``
(RFC 7578), with the ``data`` fields as text parts before the files.

A file is ``bytes``, ``str``, a binary file object (``open(path, "rb")``,
``io.BytesIO``), or a tuple ``(filename, content)``, ``(filename, content,
content_type)`` or ``(filename, content, content_type, headers)``. Without a
file object, the body is ``bytes``: replayable, so a 307/308 redirect or a
retry can send it again. With one, the body streams: file objects are read in
64 KiB chunks in a worker thread (a disk read never blocks the event loop),
and ``Content-Length`` is set when every file object can tell its size
(a seekable file: read from its current position to the end), so servers
that refuse chunked uploads accept it. A streamed body is sent once; a
redirect that must resend it ends the call with the 3xx, as for any stream.

Encoded here rather than with a third-party library: the format is a few
lines of RFC 7578, and no encoder in a well-kept package streams file
objects asynchronously with a known length.
"""

from __future__ import annotations

import io
import mimetypes
import os
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TypeAlias
from urllib.parse import urlencode

import anyio.to_thread

__all__ = ["FileContent", "FilesInput", "FormInput", "encode_form", "encode_multipart"]

FormValue: TypeAlias = "str | int | float | Sequence[str | int | float]"
FormInput: TypeAlias = "Mapping[str, FormValue] | Sequence[tuple[str, str | int | float]]"
FileContent: TypeAlias = "bytes | str | IO[bytes]"
FileSpec: TypeAlias = (
    "FileContent | tuple[str | None, FileContent] | tuple[str | None, FileContent, str | None]"
    " | tuple[str | None, FileContent, str | None, Mapping[str, str]]"
)
FilesInput: TypeAlias = "Mapping[str, FileSpec] | Sequence[tuple[str, FileSpec]]"

_CHUNK = 64 * 1024


def _pairs(data: FormInput) -> list[tuple[str, str]]:
    """Form fields as ``(name, value)`` pairs; a list value repeats the field, as browsers do."""
    items: Iterable[tuple[str, object]] = data.items() if isinstance(data, Mapping) else data
    pairs: list[tuple[str, str]] = []
    for name, value in items:
        if isinstance(value, (list, tuple)):
            pairs.extend((name, _text(name, item)) for item in value)
        else:
            pairs.append((name, _text(name, value)))
    return pairs


def _text(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(
            f"form field {name!r} must be str, int or float (or a list of them), got "
            f"{type(value).__name__}; send bytes and files with files="
        )
    return str(value)


def encode_form(data: FormInput) -> tuple[bytes, str]:
    """``(body, content_type)`` of a URL-encoded form."""
    return urlencode(_pairs(data)).encode("ascii"), "application/x-www-form-urlencoded"


@dataclass(slots=True)
class _Part:
    head: bytes
    content: bytes | IO[bytes]
    size: int | None  # None: a file object that cannot tell its size


def _quote(value: str) -> str:
    """A ``Content-Disposition`` parameter value, escaped as browsers do (WHATWG HTML)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _file_size(handle: IO[bytes]) -> int | None:
    try:
        if not handle.seekable():
            return None
        here = handle.tell()
        end = handle.seek(0, os.SEEK_END)
        handle.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return end - here


def _file_part(name: str, spec: FileSpec) -> _Part:
    filename: str | None = None
    content_type: str | None = None
    extra: Mapping[str, str] = {}
    if isinstance(spec, tuple):
        filename, content = spec[0], spec[1]
        if len(spec) > 2:
            content_type = spec[2]
        if len(spec) > 3:
            extra = spec[3]
    else:
        content = spec
        given = getattr(content, "name", None)
        filename = os.path.basename(given) if isinstance(given, str) else name
    if isinstance(content, str):
        content = content.encode("utf-8")
    if isinstance(content, io.TextIOBase):  # type: ignore[unreachable]  # not as typed
        raise TypeError(
            f"file {name!r} is open in text mode; open it with 'rb' so its bytes are sent "
            "as they are"
        )
    if content_type is None:
        guessed = mimetypes.guess_type(filename)[0] if filename else None
        content_type = guessed or "application/octet-stream"
    disposition = f'form-data; name="{_quote(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quote(filename)}"'
    lines = [f"Content-Disposition: {disposition}", f"Content-Type: {content_type}"]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    if isinstance(content, bytes):
        return _Part(head, content, len(content))
    return _Part(head, content, _file_size(content))


def encode_multipart(
    data: FormInput | None, files: FilesInput, boundary: str | None = None
) -> tuple[bytes | AsyncIterator[bytes], str, int | None]:
    """``(body, content_type, length)`` of a ``multipart/form-data`` body.

    ``body`` is ``bytes`` when every part is in memory, else an async
    iterator that reads the file objects as it goes; ``length`` is the
    body's size when known (always, for ``bytes``).
    """
    boundary = boundary or secrets.token_hex(16)
    delimiter = f"--{boundary}\r\n".encode("ascii")
    parts: list[_Part] = []
    for name, value in _pairs(data or {}):
        head = f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
        parts.append(_Part(head, value.encode("utf-8"), len(value.encode("utf-8"))))
    file_items = files.items() if isinstance(files, Mapping) else files
    parts.extend(_file_part(name, spec) for name, spec in file_items)
    closing = f"--{boundary}--\r\n".encode("ascii")
    content_type = f"multipart/form-data; boundary={boundary}"

    if all(isinstance(part.content, bytes) for part in parts):
        chunks: list[bytes] = []
        for part in parts:
            assert isinstance(part.content, bytes)
            chunks += [delimiter, part.head, part.content, b"\r\n"]
        chunks.append(closing)
        body = b"".join(chunks)
        return body, content_type, len(body)

    length: int | None = len(closing)
    for part in parts:
        if part.size is None or length is None:
            length = None
        else:
            length += len(delimiter) + len(part.head) + part.size + 2
    return _stream(parts, delimiter, closing), content_type, length


async def _stream(parts: list[_Part], delimiter: bytes, closing: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield delimiter + part.head
        content = part.content
        if isinstance(content, bytes):
            if content:
                yield content
        else:
            while chunk := await anyio.to_thread.run_sync(content.read, _CHUNK):
                yield chunk
        yield b"\r\n"
    yield closing
