"""Finding engines: entry points → pluggy → a name-indexed registry.

pluggy's own ``load_setuptools_entrypoints`` stops at the first plugin that
fails to import, and one hook that raises fails the whole hook call; users
would lose every engine because of one broken package. So each entry point is
imported, registered and asked for its engines on its own, and failures are
kept (with the distribution's name and version) for ``openwire engines``.

An engine written for another version of the engine contract (no
``api_version``, or a number other than ``ENGINE_API_VERSION``) is not
registered: it is kept as a failure naming both versions, and selecting it
raises :class:`~openwire.errors.EngineUnavailable` with the same words, so
an old plugin costs the user a clear message, never a crash mid-connection.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import cast

import pluggy

from openwire.engines import hookspecs
from openwire.engines.contract import ENGINE_API_VERSION, EngineCapabilities, WebSocketEngine
from openwire.errors import EngineNotFound, EngineUnavailable, PluginConflict

__all__ = ["ENV_VAR", "EngineInfo", "EngineRegistry", "PluginFailure", "registry"]

ENV_VAR = "OPENWIRE_WEBSOCKET_ENGINE"
DEFAULT_ENGINE = "native"

# Engines this project publishes, so a missing one gets an exact install line.
KNOWN_ADAPTERS = {
    "wsproto": "openwire-wsproto",
    "websockets": "openwire-websockets",
    "aiohttp": "openwire-aiohttp",
}


@dataclass(frozen=True)
class EngineInfo:
    name: str
    engine: WebSocketEngine
    distribution: str
    version: str
    plugin: str

    @property
    def capabilities(self) -> EngineCapabilities:
        return self.engine.capabilities


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    distribution: str
    version: str
    error: str


def _dist_of(ep: EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "unknown", "unknown"
    return dist.metadata["Name"] or dist.name, dist.version


class EngineRegistry:
    """Engines by name, loaded from the ``openwire`` entry-point group on first use."""

    def __init__(self, group: str = hookspecs.PROJECT) -> None:
        self._group = group
        self._lock = threading.Lock()
        self._loaded = False
        self._engines: dict[str, EngineInfo] = {}
        self._conflicts: dict[str, list[EngineInfo]] = {}
        self._failures: list[PluginFailure] = []
        # Engines refused for their contract version: name -> why.
        self._refused: dict[str, str] = {}
        # Entry points already imported (or failed), by (name, value), and
        # the names already looked up alone (see _load_named).
        self._tried: set[tuple[str, str]] = set()
        self._looked_up: set[str] = set()
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)

    # -------------------------------------------------------------- loading

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        if not self._loaded:
            for ep in entry_points(group=self._group):
                self._load(ep)
            self._loaded = True

    def _load_named(self, name: str) -> None:
        """Import only the entry points called ``name``: what selecting one engine needs.

        Importing every plugin to open one connection would import every
        engine's library (aiohttp alone takes ~0.4 s), on the event loop.
        An engine is published under an entry point of its own name, so the
        one asked for is found without the others; a name not found that
        way, and any listing, loads them all. The price: a second plugin
        that also provides this name under an entry point of another name
        is only seen as a conflict once everything is loaded (``openwire
        engines`` shows it); two entry points of the same name are seen at
        once. Each name is looked up once (the scan reads every installed
        package's metadata).
        """
        if not self._loaded and name not in self._looked_up:
            self._looked_up.add(name)
            for ep in entry_points(group=self._group, name=name):
                self._load(ep)

    def _load(self, ep: EntryPoint) -> None:
        key = (ep.name, ep.value)
        if key in self._tried:
            return
        self._tried.add(key)
        distribution, version = _dist_of(ep)
        try:
            module = ep.load()
        except Exception as exc:
            self._failures.append(
                PluginFailure(ep.name, distribution, version, f"import failed: {exc!r}")
            )
            return
        self._add_plugin(module, ep.name, distribution, version)

    def register_module(
        self,
        module: ModuleType | object,
        name: str,
        distribution: str = "local",
        version: str = "0",
    ) -> None:
        """Register a plugin object directly (e.g. an engine defined in a test or app)."""
        self._ensure_loaded()
        with self._lock:
            self._add_plugin(module, name, distribution, version)

    def _add_plugin(self, module: object, name: str, distribution: str, version: str) -> None:
        try:
            if self.manager.is_registered(module):
                return
            self.manager.register(module, name=f"{distribution}:{name}")
        except Exception as exc:
            self._failures.append(
                PluginFailure(name, distribution, version, f"registration failed: {exc!r}")
            )
            return
        for impl in self.manager.hook.openwire_websocket_engines.get_hookimpls():
            if impl.plugin is not module:
                continue
            try:
                engines = list(cast("Iterable[WebSocketEngine]", impl.function()))
                named = [(str(engine.name), engine) for engine in engines]
            except Exception as exc:
                self._failures.append(
                    PluginFailure(name, distribution, version, f"hook raised: {exc!r}")
                )
                continue
            for engine_name, engine in named:
                refusal = _version_refusal(engine_name, engine, distribution, version)
                if refusal is not None:
                    self._refused[engine_name] = refusal
                    self._failures.append(PluginFailure(name, distribution, version, refusal))
                    continue
                info = EngineInfo(engine_name, engine, distribution, version, name)
                if engine_name in self._conflicts:
                    self._conflicts[engine_name].append(info)
                elif engine_name in self._engines:
                    self._conflicts[engine_name] = [self._engines.pop(engine_name), info]
                else:
                    self._engines[engine_name] = info

    # ------------------------------------------------------------- querying

    def engines(self) -> list[EngineInfo]:
        """Every usable engine, sorted by name."""
        self._ensure_loaded()
        return sorted(self._engines.values(), key=lambda info: info.name)

    def failures(self) -> list[PluginFailure]:
        self._ensure_loaded()
        return list(self._failures)

    def conflicts(self) -> dict[str, list[EngineInfo]]:
        self._ensure_loaded()
        return {name: list(infos) for name, infos in self._conflicts.items()}

    def get(self, name: str) -> EngineInfo:
        """The engine called ``name``; raise a typed error that says what to do."""
        info = self._engines.get(name)  # found before (a conflict takes it out of here)
        if info is not None:
            return info
        if not self._loaded:
            with self._lock:
                self._load_named(name)
            info = self._engines.get(name)
            if info is not None:
                return info
        self._ensure_loaded()
        info = self._engines.get(name)
        if info is not None:
            return info
        if name in self._conflicts:
            owners = ", ".join(f"{i.distribution} {i.version}" for i in self._conflicts[name])
            raise PluginConflict(
                f"WebSocket engine {name!r} is provided by several installed "
                f"distributions ({owners}); uninstall all but one"
            )
        if name in self._refused:
            raise EngineUnavailable(self._refused[name])
        available = sorted(self._engines)
        message = f"no WebSocket engine named {name!r}; installed: {', '.join(available)}."
        if name in KNOWN_ADAPTERS:
            message += f" Install it with: pip install {KNOWN_ADAPTERS[name]}"
        for failure in self._failures:
            if failure.plugin == name:
                message += (
                    f" (plugin {name!r} from {failure.distribution} {failure.version} is "
                    f"installed but broken: {failure.error})"
                )
        raise EngineNotFound(message, name=name, available=available)

    def select(self, call: str | None, client: str | None) -> tuple[str, str]:
        """Resolve the engine name by precedence; return ``(name, why)``."""
        if call:
            return call, "chosen for this call (engine=...)"
        if client:
            return client, "client config (Client(websocket_engine=...))"
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            return env, f"environment ({ENV_VAR}={env})"
        return DEFAULT_ENGINE, "default"

    def resolve(self, call: str | None, client: str | None, backend: str) -> EngineInfo:
        """The engine to use for a call on ``backend``, or a typed error before connecting."""
        name, _ = self.select(call, client)
        info = self.get(name)
        if backend not in info.capabilities.backends:
            raise EngineUnavailable(
                f"WebSocket engine {name!r} runs on {', '.join(info.capabilities.backends)}, "
                f"not on {backend}; pick another engine (e.g. engine='native') or run under "
                f"{info.capabilities.backends[0]}"
            )
        return info


def _version_refusal(
    name: str, engine: WebSocketEngine, distribution: str, version: str
) -> str | None:
    """Why ``engine`` cannot run with this core, or ``None`` if its contract version matches."""
    declared = getattr(engine, "api_version", None)
    if declared == ENGINE_API_VERSION:
        return None
    written_for = (
        "version 1 (it declares no api_version)" if declared is None else (f"version {declared!r}")
    )
    return (
        f"WebSocket engine {name!r} from {distribution} {version} was written for engine "
        f"contract {written_for}; this openwire implements version {ENGINE_API_VERSION}. "
        f"Upgrade {distribution} to a release for contract version {ENGINE_API_VERSION}, "
        "or pick another engine (e.g. engine='native')"
    )


registry = EngineRegistry()
