"""Conformance: see ``openwire.testing.conformance.test_http_versions``."""

from openwire.testing.conformance.test_http_versions import *  # noqa: F403
from openwire.testing.conformance.test_http_versions import pytestmark  # noqa: F401
