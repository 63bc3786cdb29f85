"""The module the ``openwire`` entry point names: it implements one hook."""

from __future__ import annotations

from openwire.engines import hookimpl

from openwire_recording.engine import RecordingEngine


@hookimpl
def openwire_websocket_engines() -> list[RecordingEngine]:
    return [RecordingEngine()]
