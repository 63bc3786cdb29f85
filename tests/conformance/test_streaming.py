"""Conformance: see ``openwire.testing.conformance.test_streaming``."""

from openwire.testing.conformance.test_streaming import *  # noqa: F403
from openwire.testing.conformance.test_streaming import pytestmark  # noqa: F401
