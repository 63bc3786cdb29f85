"""Conformance: see ``openwire.testing.conformance.test_closing``."""

from openwire.testing.conformance.test_closing import *  # noqa: F403
from openwire.testing.conformance.test_closing import pytestmark  # noqa: F401
