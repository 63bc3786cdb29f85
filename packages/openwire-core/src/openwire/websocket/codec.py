"""Re-export of :mod:`openwire.protocol.codec`, the native codec's former path."""

from openwire.protocol.codec import DeflateFrameCodec, FrameCodec, FrameEncoder

__all__ = ["DeflateFrameCodec", "FrameCodec", "FrameEncoder"]
