"""Conformance: see ``openwire.testing.conformance.test_limits``."""

from openwire.testing.conformance.test_limits import *  # noqa: F403
from openwire.testing.conformance.test_limits import pytestmark  # noqa: F401
