"""Conformance: see ``openwire.testing.conformance.test_framing``."""

from openwire.testing.conformance.test_framing import *  # noqa: F403
from openwire.testing.conformance.test_framing import pytestmark  # noqa: F401
