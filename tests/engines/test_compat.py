"""The private names of dependencies that adapters rely on still exist, with the shapes used.

Each adapter keeps its unavoidable private access in one ``_compat`` module,
with an upper version bound in its ``pyproject.toml``. These tests fail with
a message naming the package and the installed version when an upstream
release moves or changes one of those names, so a bump of the bound is a
deliberate decision, not a surprise in production.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import version

import pytest
from openwire.protocol.frames import Frame
from packaging.specifiers import SpecifierSet

AIOHTTP = version("aiohttp")
ADVICE = "update openwire_aiohttp/_compat.py (and the bound in its pyproject.toml)"

# (module, name) pairs openwire_aiohttp._compat imports.
AIOHTTP_PRIVATE_NAMES = [
    ("aiohttp._websocket.helpers", "websocket_mask"),
    ("aiohttp._websocket.models", "WebSocketError"),
    ("aiohttp._websocket.reader", "WebSocketDataQueue"),
    ("aiohttp._websocket.reader", "WebSocketReader"),
]


@pytest.mark.parametrize(("module", "name"), AIOHTTP_PRIVATE_NAMES)
def test_aiohttp_private_names_exist(module: str, name: str) -> None:
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"aiohttp {AIOHTTP} no longer provides {module}.{name} ({exc}); {ADVICE}")
    assert found is not None


def test_aiohttp_version_is_within_the_declared_bound() -> None:
    from openwire_aiohttp import _compat

    assert AIOHTTP in SpecifierSet(_compat.SUPPORTED), (
        f"aiohttp {AIOHTTP} is outside {_compat.SUPPORTED}, the releases openwire-aiohttp "
        f"was checked against; {ADVICE}"
    )


def test_aiohttp_reader_hands_complete_frames_to_handle_frame() -> None:
    # The adapter overrides _handle_frame(fin, opcode, payload, compressed) on
    # a subclass; if aiohttp renames it, makes it cdef, or changes what it
    # passes, frames would silently stop coming out.
    from aiohttp._websocket.reader import WebSocketReader
    from openwire_aiohttp import _compat

    assert hasattr(WebSocketReader, "_handle_frame"), (
        f"aiohttp {AIOHTTP}'s WebSocketReader has no _handle_frame; {ADVICE}"
    )
    reader = _compat.FrameReader()
    failed, _ = reader.feed_data(b"\x81\x02hi\x02\x01a\x80\x01b\x89\x00")
    assert not failed, f"aiohttp {AIOHTTP}'s reader refused valid frames; {ADVICE}"
    assert reader.frames == [
        Frame(1, True, False, b"hi"),
        Frame(2, False, False, b"a"),
        Frame(0, True, False, b"b"),
        Frame(9, True, False, b""),
    ], f"aiohttp {AIOHTTP}'s reader passes frames differently; {ADVICE}"
    assert reader.queue_._size == 0


def test_aiohttp_reader_and_queue_signatures() -> None:
    from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader

    for cls, expected in ((WebSocketReader, 4), (WebSocketDataQueue, 2)):
        try:
            params = inspect.signature(cls).parameters
        except (TypeError, ValueError):  # compiled classes may hide their signature
            continue
        positional = [p for p in params.values() if p.default is inspect.Parameter.empty]
        assert len(positional) >= expected, (
            f"aiohttp {AIOHTTP} changed {cls.__name__}{inspect.signature(cls)}; {ADVICE}"
        )


def test_aiohttp_mask_masks_in_place() -> None:
    from openwire.protocol.masking import _apply_mask_python
    from openwire_aiohttp import _compat

    payload, key = bytes(range(37)), b"\x01\x02\x03\x04"
    masked = bytearray(payload)
    _compat.websocket_mask(key, masked)
    assert bytes(masked) == _apply_mask_python(payload, key), (
        f"aiohttp {AIOHTTP}'s websocket_mask no longer masks a bytearray in place; {ADVICE}"
    )
