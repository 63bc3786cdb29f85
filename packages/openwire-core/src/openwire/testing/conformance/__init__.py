"""The engine conformance suite (RFC 6455 and RFC 7692 permessage-deflate, client side).

Every test is written once and runs per engine × backend through the public
API, against real peers on 127.0.0.1: a websockets server for the happy paths
and a scripted raw server that sends exact bytes for everything else. See
:mod:`openwire.testing.plugin` for how to run it against your engine.
"""
