"""The rules of the protocols, with no I/O: bytes and events in, bytes and events out.

Nothing in this package opens a socket, starts a task, reads a clock or
imports a module that does. Each rule of RFC 6455 (and RFC 7692, and the
HTTP/1.1 heads an upgrade needs) is written once, here:

- ``frames``     opcodes, close codes and close payloads (RFC 6455 §5, §7.4)
- ``gate``       the frame-header rules, applied before any payload is kept
- ``codec``      the native frame codec: bytes → events, messages → bytes
- ``deflate``    permessage-deflate: negotiation, bounded inflate, compress
- ``masking``    the client's masking of frames it sends (§5.3)
- ``handshake``  the opening handshake: the offer and the checks of the 101
- ``http11``     the strict HTTP/1.1 head writer and bounded reader
"""
