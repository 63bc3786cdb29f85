"""An example engine plugin for openwire: a small frame parser, with counters."""

from openwire_recording.engine import RecordingConnection, RecordingEngine

__all__ = ["RecordingConnection", "RecordingEngine"]
