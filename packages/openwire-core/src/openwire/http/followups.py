"""Follow-ups: what to do after a response that is not the final answer.

One call may take several network attempts: redirects, one retry after a
connection failure, and 401/407 challenges answered by an
:class:`Authenticator`. This layer sits above the bridge, so each attempt is
rebuilt from the application's request and re-bridged (Host, cookies,
framing), and network interceptors see every attempt.

WebSocket handshakes are never redirected or authenticated here: the 3xx or
401 is returned as-is for the WebSocket layer to report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

from openwire.config import ClientConfig
from openwire.errors import (
    ConnectError,
    ReadError,
    RedirectRefused,
    RequestError,
    TooManyRedirects,
    WriteError,
)
from openwire.http.chain import Chain
from openwire.http.models import Request, Response

__all__ = ["Authenticator", "FollowUps", "discard"]

Authenticator: TypeAlias = Callable[[Response], Awaitable[Request | None]]
"""``async (response) -> Request | None``: the retry for a 401/407, or None to give up."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DRAIN_LIMIT = 64 * 1024
_BODY_HEADERS = ("content-length", "content-type", "content-encoding", "transfer-encoding")
_CROSS_ORIGIN_STRIPPED = ("authorization", "cookie", "host")


async def discard(response: Response) -> None:
    """Close a response we will not return, reading a small body so the connection is reused."""
    try:
        received = 0
        body = response.aiter_bytes()
        try:
            async for chunk in body:
                received += len(chunk)
                if received > _DRAIN_LIMIT:
                    break
        finally:
            await body.aclose()
    except RequestError:
        pass
    finally:
        await response.aclose()


class FollowUps:
    def __init__(self, config: ClientConfig) -> None:
        self._config = config

    async def __call__(self, request: Request, chain: Chain) -> Response:
        config = self._config
        websocket = request.is_websocket
        current = request
        redirects = 0
        auth_attempts = 0
        retried = False
        while True:
            try:
                response = await chain.proceed(current)
            except (ConnectError, ReadError, WriteError):
                if retried or not self._can_retry(current):
                    raise
                retried = True
                continue

            if websocket:
                return response

            if config.follow_redirects and response.status in _REDIRECTS:
                try:
                    follow = self._redirect(current, response)
                except RedirectRefused:
                    await discard(response)
                    raise
                if follow is None:
                    return response
                if redirects >= config.max_redirects:
                    await discard(response)
                    raise TooManyRedirects(
                        f"{request.method} {request.url} was redirected more than "
                        f"{config.max_redirects} times (last to {follow.url}); look for a "
                        "redirect loop, or raise max_redirects",
                        request=current,
                    )
                await discard(response)
                redirects += 1
                current = follow
                continue

            if response.status in (401, 407) and config.authenticator is not None:
                if auth_attempts >= config.max_auth_attempts:
                    return response
                try:
                    retry = await config.authenticator(response)
                except BaseException:
                    await response.aclose()
                    raise
                if retry is None:
                    return response
                auth_attempts += 1
                await discard(response)
                current = retry
                continue

            return response

        raise AssertionError("unreachable")  # pragma: no cover

    def _can_retry(self, request: Request) -> bool:
        return (
            self._config.retry_on_connection_failure
            and request.is_idempotent
            and request.is_replayable
        )

    def _redirect(self, request: Request, response: Response) -> Request | None:
        """The next hop's request, or None when this 3xx is the answer."""
        location = response.headers.get("location")
        if not location:
            return None
        try:
            target = request.url.join(location.strip())
        except ValueError:
            return None
        if target.scheme not in ("http", "https"):
            return None
        if (
            request.url.scheme == "https"
            and target.scheme == "http"
            and not self._config.allow_insecure_redirects
        ):
            raise RedirectRefused(
                f"{request.url} redirected to {target}, which would drop https; pass "
                "allow_insecure_redirects=True to follow it anyway",
                request=request,
            )

        method = request.method
        content = request.content
        headers = request.headers.copy()
        status = response.status
        if (status == 303 and method != "HEAD") or (
            status in (301, 302)
            and method
            not in (
                "GET",
                "HEAD",
            )
        ):
            method, content = "GET", None
            for name in _BODY_HEADERS:
                headers.remove(name)
        elif not request.is_replayable:
            return None  # 307/308 must resend a body we can no longer produce
        if target.origin != request.url.origin:
            for name in _CROSS_ORIGIN_STRIPPED:
                headers.remove(name)
        return request.replace(method=method, url=target, headers=headers, content=content)
