"""The ``openwire`` command: a WebSocket and HTTP client for the terminal.

Kept inside openwire-core (stdlib only, no extra dependency) so that the
first thing a user runs after ``pip install openwire-core`` works without
installing anything else.
"""
