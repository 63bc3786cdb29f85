"""Conformance: see ``openwire.testing.conformance.test_control``."""

from openwire.testing.conformance.test_control import *  # noqa: F403
from openwire.testing.conformance.test_control import pytestmark  # noqa: F401
