"""Conformance: see ``openwire.testing.conformance.test_compression``."""

from openwire.testing.conformance.test_compression import *  # noqa: F403
from openwire.testing.conformance.test_compression import pytestmark  # noqa: F401
