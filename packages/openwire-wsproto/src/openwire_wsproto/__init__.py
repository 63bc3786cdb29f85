"""openwire's wsproto engine; select it with ``engine="wsproto"``."""

from __future__ import annotations

from openwire_wsproto.engine import WsprotoConnection, WsprotoEngine

__all__ = ["WsprotoConnection", "WsprotoEngine"]
