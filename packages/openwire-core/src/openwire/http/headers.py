"""A case-insensitive multi-dict that keeps the original spelling.

HTTP allows repeated fields (``Set-Cookie``) and servers care about neither
order nor case, but people reading a trace do; so pairs are kept as given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias, overload

__all__ = ["Headers", "HeadersInput"]

HeadersInput: TypeAlias = "Headers | Mapping[str, str] | Iterable[tuple[str, str]]"


class Headers:
    """Ordered ``(name, value)`` pairs with case-insensitive lookup."""

    __slots__ = ("_items",)

    def __init__(self, headers: HeadersInput | None = None) -> None:
        if headers is None:
            self._items: list[tuple[str, str]] = []
        elif isinstance(headers, Headers):
            self._items = list(headers._items)
        elif isinstance(headers, list | tuple):
            # Before the Mapping check: an ABC isinstance costs several calls,
            # and the layers below the application pass lists.
            self._items = [(str(k), str(v)) for k, v in headers]
        elif isinstance(headers, Mapping):
            self._items = [(str(k), str(v)) for k, v in headers.items()]
        else:
            self._items = [(str(k), str(v)) for k, v in headers]

    @classmethod
    def adopt(cls, items: list[tuple[str, str]]) -> Headers:
        """Headers over ``items`` itself, neither copied nor converted.

        For a layer that built the list of ``str`` pairs itself and hands it
        over (the bridge, the transport): the constructor would copy it
        and convert every name and value again.
        """
        headers = cls.__new__(cls)
        headers._items = items
        return headers

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """All values of ``name`` joined by ``", "`` (RFC 9110 §5.3), else ``default``."""
        values = self.get_list(name)
        return ", ".join(values) if values else default

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name`` (case-insensitive), in the order received; ``[]`` when absent."""
        key = name.lower()
        return [v for k, v in self._items if k.lower() == key]

    def add(self, name: str, value: str) -> None:
        """Append a field, keeping any with the same name (``Set-Cookie`` may repeat)."""
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        """Drop every field called ``name``; a missing name is not an error."""
        key = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != key]

    def set_default(self, name: str, value: str) -> None:
        """Set ``name`` only when no field of that name is present."""
        if name not in self:
            self._items.append((name, value))

    def items(self) -> list[tuple[str, str]]:
        """Every field as ``(name, value)``, repeats included, in order."""
        return list(self._items)

    def keys(self) -> list[str]:
        """The distinct names, each spelled as first seen."""
        seen: dict[str, str] = {}
        for k, _ in self._items:
            seen.setdefault(k.lower(), k)
        return list(seen.values())

    def copy(self) -> Headers:
        """An independent copy: changing it leaves this one as it is."""
        return Headers(self)

    def raw(self) -> list[tuple[bytes, bytes]]:
        """The fields encoded as Latin-1 bytes, as they go on the wire."""
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self._items]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every field called ``name`` with one, kept at the first one's place."""
        key = name.lower()
        out: list[tuple[str, str]] = []
        placed = False
        for k, v in self._items:
            if k.lower() != key:
                out.append((k, v))
            elif not placed:
                out.append((name, value))
                placed = True
        if not placed:
            out.append((name, value))
        self._items = out

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self.remove(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(k.lower() == key for k, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return sorted((k.lower(), v) for k, v in self._items) == sorted(
            (k.lower(), v) for k, v in other._items
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
