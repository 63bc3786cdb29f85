"""Run the shipped conformance suite against every engine installed here."""

pytest_plugins = ["openwire.testing.plugin"]
