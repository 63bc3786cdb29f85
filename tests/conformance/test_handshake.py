"""Conformance: see ``openwire.testing.conformance.test_handshake``."""

from openwire.testing.conformance.test_handshake import *  # noqa: F403
from openwire.testing.conformance.test_handshake import pytestmark  # noqa: F401
