"""Conformance: see ``openwire.testing.conformance.test_lifecycle``."""

from openwire.testing.conformance.test_lifecycle import *  # noqa: F403
from openwire.testing.conformance.test_lifecycle import pytestmark  # noqa: F401
