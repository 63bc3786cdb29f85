"""Sans-I/O tests: the session, channels and runtime driven by hand, no socket, no loop."""
