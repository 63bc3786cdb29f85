"""An example engine plugin for openwire: the native codec, with counters."""

from openwire_recording.engine import RecordingConnection, RecordingEngine

__all__ = ["RecordingConnection", "RecordingEngine"]
