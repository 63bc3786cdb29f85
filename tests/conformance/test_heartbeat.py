"""Conformance: see ``openwire.testing.conformance.test_heartbeat``."""

from openwire.testing.conformance.test_heartbeat import *  # noqa: F403
from openwire.testing.conformance.test_heartbeat import pytestmark  # noqa: F401
