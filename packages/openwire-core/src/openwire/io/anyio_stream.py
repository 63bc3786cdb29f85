"""The network stream on trio (and any anyio backend but asyncio's fast path).

httpcore's anyio stream is used as it is, wrapped only where httpcore would
leave a socket to the garbage collector.
"""

from __future__ import annotations

import ssl
from typing import Any

import anyio
import httpcore

__all__ = ["ClosesOnFailedTLS"]


class ClosesOnFailedTLS(httpcore.AsyncNetworkStream):
    """httpcore's anyio stream, closed when its TLS handshake fails in any way.

    httpcore's ``start_tls`` closes the stream on an error but not when the
    handshake is cancelled (a call deadline, the caller's cancel scope: on
    trio that is not an ``Exception``), and its connection drops the stream
    without closing it either, so the socket would stay open until garbage
    collection.
    """

    __slots__ = ("inner",)

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self.inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            return await self.inner.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.inner.aclose()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)
