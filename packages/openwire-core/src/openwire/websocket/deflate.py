"""Re-export of :mod:`openwire.protocol.deflate`, permessage-deflate's former path."""

from openwire.protocol.deflate import (
    MIN_COMPRESS_SIZE,
    NAME,
    OFFER,
    CompressingEncoder,
    DeflateNegotiation,
    DeflateParameters,
    PerMessageDeflate,
    negotiate,
)

__all__ = [
    "MIN_COMPRESS_SIZE",
    "NAME",
    "OFFER",
    "CompressingEncoder",
    "DeflateNegotiation",
    "DeflateParameters",
    "PerMessageDeflate",
    "negotiate",
]
