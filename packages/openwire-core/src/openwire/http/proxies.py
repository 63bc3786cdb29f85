"""Choosing a proxy per request: explicit, or from the environment like curl.

With ``trust_env`` (the default) the usual variables are honoured, lower
case first as curl does: ``http_proxy`` for http URLs, ``https_proxy`` for
https, ``all_proxy`` as the fallback, and ``no_proxy`` to bypass. The
environment is read once, when the client is built, so a call never sees
half-changed settings. An explicit ``proxy=`` wins over the environment and
ignores ``NO_PROXY``: it was asked for.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from openwire.http.url import URL

__all__ = ["NoProxy", "ProxySelector", "redact"]


@dataclass(frozen=True, slots=True)
class NoProxy:
    """A parsed ``NO_PROXY``: ``*``, host names (suffix match), ``host:port``, IPs and CIDRs."""

    entries: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str | None) -> NoProxy:
        if not value:
            return cls()
        return cls(tuple(e.strip().lower() for e in value.split(",") if e.strip()))

    def matches(self, url: URL) -> bool:
        host = url.host.strip("[]")
        for entry in self.entries:
            if entry == "*":
                return True
            name, port = _split_port(entry)
            if port is not None and port != url.port:
                continue
            if "/" in name:
                try:
                    if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                        return True
                except ValueError:
                    pass
                continue
            name = name.lstrip(".").strip("[]")
            if host == name or host.endswith("." + name):
                return True
        return False


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1]:8080
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


def _env(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name.lower()) or environ.get(name.upper()) or None


def _proxy_url(value: str) -> URL:
    return URL(value if "://" in value else f"http://{value}")


class ProxySelector:
    """Answers "which proxy for this URL?" from settings fixed at construction."""

    def __init__(
        self,
        proxy: str | None = None,
        *,
        trust_env: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._explicit = _proxy_url(proxy) if proxy else None
        self._by_scheme: dict[str, URL] = {}
        self._no_proxy = NoProxy()
        if trust_env and self._explicit is None:
            env = os.environ if environ is None else environ
            fallback = _env(env, "all_proxy")
            for scheme in ("http", "https"):
                value = _env(env, f"{scheme}_proxy") or fallback
                if value:
                    self._by_scheme[scheme] = _proxy_url(value)
            self._no_proxy = NoProxy.parse(_env(env, "no_proxy"))

    def select(self, url: URL) -> URL | None:
        if self._explicit is not None:
            return self._explicit
        proxy = self._by_scheme.get(url.wire_scheme)
        if proxy is None or self._no_proxy.matches(url):
            return None
        return proxy


def redact(proxy: URL) -> str:
    """``scheme://host:port`` without the password, for events and messages."""
    if proxy.username is None:
        return f"{proxy.scheme}://{proxy.netloc}"
    return f"{proxy.scheme}://{proxy.username}:***@{proxy.netloc}"
