"""The ``Deflate`` policy as a value: validation, the ``compression`` shorthand, and negotiation.

What it does on the wire, on every engine, is in the conformance suite
(``openwire.testing.conformance.test_compression``).
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from openwire import Client, ClientConfig, Deflate, InvalidExtension, WebSocketOptions
from openwire.protocol.deflate import (
    OFFER,
    DeflateParameters,
    PerMessageDeflate,
    negotiate,
    offer,
)
from openwire.testing.frames import TAIL


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_size", -1),
        ("client_max_window_bits", 7),
        ("client_max_window_bits", 16),
        ("server_max_window_bits", 0),
        ("server_max_window_bits", True),
        ("level", 10),
        ("level", -2),
        ("mem_level", 0),
        ("mem_level", 10),
    ],
)
def test_out_of_range_values_are_refused_with_the_field_named(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"Deflate.{field}"):
        Deflate(**{field: value})


def test_the_compression_shorthand() -> None:
    assert Deflate.of("deflate") == Deflate()
    assert Deflate.of(None) is None
    policy = Deflate(min_size=0)
    assert Deflate.of(policy) is policy
    with pytest.raises(ValueError, match=r'"deflate", an openwire\.Deflate'):
        Deflate.of("gzip")


def test_options_and_config_store_a_policy() -> None:
    assert WebSocketOptions().compression == Deflate()
    assert WebSocketOptions.of(compression=None).compression is None
    assert ClientConfig(websocket_compression="deflate").websocket_compression == Deflate()
    with pytest.raises(ValueError, match="compression must be"):
        WebSocketOptions.of(compression="zstd")
    with pytest.raises(ValueError, match="compression must be"):
        ClientConfig(websocket_compression="zstd")


def test_a_call_takes_the_client_default_unless_it_sets_its_own() -> None:
    client = Client(websocket_compression=Deflate(min_size=7))
    assert client.new_websocket("ws://h/").options.compression == Deflate(min_size=7)
    assert client.new_websocket("ws://h/", compression=None).options.compression is None
    call = client.new_websocket("ws://h/", compression="deflate")
    assert call.options.compression == Deflate()
    assert Client().new_websocket("ws://h/").options.compression == Deflate()


def test_the_default_offer_is_unchanged() -> None:
    assert offer(Deflate()) == OFFER == "permessage-deflate; client_max_window_bits"


@pytest.mark.parametrize(
    ("answer", "policy", "expected"),
    [
        ("permessage-deflate", Deflate(), DeflateParameters()),
        (
            "permessage-deflate; client_max_window_bits=10",
            Deflate(client_max_window_bits=12),
            DeflateParameters(client_max_window_bits=10),
        ),
        (
            "permessage-deflate",
            Deflate(client_max_window_bits=12),
            DeflateParameters(client_max_window_bits=12),
        ),
        (
            "permessage-deflate; server_max_window_bits=9",
            Deflate(server_max_window_bits=10),
            DeflateParameters(server_max_window_bits=9),
        ),
        (
            "permessage-deflate",
            Deflate(client_no_context_takeover=True, min_size=5, level=1, mem_level=8),
            DeflateParameters(client_no_context_takeover=True, min_size=5, level=1, mem_level=8),
        ),
    ],
)
def test_negotiated_parameters(answer: str, policy: Deflate, expected: DeflateParameters) -> None:
    assert negotiate([answer], policy) == expected


def test_nothing_accepted_is_nothing_negotiated_whatever_was_offered() -> None:
    assert negotiate([], None) is None
    assert negotiate([], Deflate()) is None
    with pytest.raises(InvalidExtension, match="none was offered"):
        negotiate(["permessage-deflate"], None)


def test_the_compressor_follows_the_negotiated_parameters() -> None:
    params = DeflateParameters(client_max_window_bits=9, client_no_context_takeover=True, level=0)
    pmd = PerMessageDeflate(params, None)
    data = b"abc" * 1000
    first = pmd.compress(data)
    # Level 0 stores: no smaller than the input; no context: the same bytes twice.
    assert len(first) > len(data)
    assert pmd.compress(data) == first
    assert zlib.decompressobj(wbits=-9).decompress(first + TAIL) == data
    assert pmd.min_size == params.min_size and pmd.can_compress


def test_zlib_state_is_created_on_first_use_and_dropped_without_context_takeover() -> None:
    # An idle connection with deflate negotiated holds no zlib object at all.
    shared = PerMessageDeflate(DeflateParameters(), None)
    assert (shared._encoder, shared._decoder) == (None, None)
    wire = shared.compress(b"x" * 200)
    assert shared._encoder is not None
    assert shared.decompress(wire, True) == b"x" * 200
    assert shared._decoder is not None
    fresh = PerMessageDeflate(
        DeflateParameters(client_no_context_takeover=True, server_no_context_takeover=True), None
    )
    assert fresh.decompress(fresh.compress(b"y" * 200), True) == b"y" * 200
    assert (fresh._encoder, fresh._decoder) == (None, None)
