"""Conformance: see ``openwire.testing.conformance.test_utf8``."""

from openwire.testing.conformance.test_utf8 import *  # noqa: F403
from openwire.testing.conformance.test_utf8 import pytestmark  # noqa: F401
