"""Test support that ships with the core: the conformance suite and its loopback peers.

Installed with ``openwire-core[testing]``. Nothing in the client imports this
package; it ships so a third-party engine is tested by the same suite, against
the same peers, as the engines openwire ships:

- ``openwire.testing.plugin``: the pytest plugin (engines × backends, peers as
  fixtures, the RFC-section matrix);
- ``openwire.testing.servers``: real echo servers and the scripted raw peer;
- ``openwire.testing.frames``: building and reading frames byte by byte;
- ``openwire.testing.conformance``: the suite itself.
"""
