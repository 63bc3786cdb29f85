"""Every public name of every package has a docstring: the API reference is generated from them.

``mkdocs build --strict`` fails on a broken reference but renders an
undocumented name as a bare signature, so this check is separate. Public
means exported: each public module's ``__all__``, and the public methods and
properties the exported classes define. Static (griffe), like the site
generator, so what passes here is what the reference shows.

The listener methods are the one exception, and it is checked too: an event
is a one-line stub in ``openwire.events`` (the module docstring has the order
diagram), and its meaning is documented in ``docs/observability.md``, which
must name every event.
"""

from __future__ import annotations

import re
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parents[2]
SEARCH_PATHS = [str(path) for path in sorted((ROOT / "packages").glob("*/src"))]
PUBLIC_MODULES = [
    "openwire",
    "openwire.testing.plugin",
    "openwire.testing.servers",
    "openwire.testing.frames",
    "openwire_wsproto",
    "openwire_websockets",
    "openwire_aiohttp",
    "openwire_opentelemetry",
]
# Classes whose methods are events: documented in docs/observability.md instead.
EVENT_CLASSES = {"openwire.events.EventListener", "openwire.events.ListenerDispatch"}


def _load() -> dict[str, griffe.Object]:
    loader = griffe.GriffeLoader(search_paths=SEARCH_PATHS)
    for package in {name.split(".")[0] for name in PUBLIC_MODULES}:
        loader.load(package)
    loader.resolve_aliases(implicit=False, external=False)
    modules: dict[str, griffe.Object] = {}
    for name in PUBLIC_MODULES:
        module = loader.modules_collection.get_member(name)
        assert isinstance(module, griffe.Module), f"{name} is not a module griffe can load"
        modules[name] = module
    return modules


def _target(obj: griffe.Object | griffe.Alias) -> griffe.Object:
    return obj.final_target if isinstance(obj, griffe.Alias) else obj


def _undocumented() -> tuple[list[str], set[str]]:
    missing: list[str] = []
    events: set[str] = set()
    for name, module in _load().items():
        assert module.exports, f"{name} has no __all__: say what is public"
        for export in module.exports:
            obj = _target(module[str(export)])
            if obj.kind is griffe.Kind.ATTRIBUTE:
                continue  # constants and aliases: described where they are defined
            if not obj.docstring:
                missing.append(f"{name}.{export} ({obj.path})")
            if obj.kind is not griffe.Kind.CLASS:
                continue
            for member_name, member in obj.members.items():
                if member_name.startswith("_") or isinstance(member, griffe.Alias):
                    continue
                if member.kind is not griffe.Kind.FUNCTION or member.docstring:
                    continue
                if obj.path in EVENT_CLASSES:
                    events.add(member_name)
                else:
                    missing.append(member.path)
    return sorted(set(missing)), events


def test_every_public_name_has_a_docstring() -> None:
    missing, _ = _undocumented()
    assert not missing, "public names without a docstring (the API reference shows nothing):\n" + (
        "\n".join(missing)
    )


def test_every_event_is_documented() -> None:
    _, events = _undocumented()
    assert events, "the listener methods were not found: is EVENT_CLASSES stale?"
    page = (ROOT / "docs" / "observability.md").read_text()
    named = set(re.findall(r"`([a-z_0-9]+)[`(]", page))
    absent = sorted(events - named)
    assert not absent, f"events not described in docs/observability.md: {absent}"
