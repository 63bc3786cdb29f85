"""The rules of the protocols, with no I/O: bytes and events in, bytes and events out.

Nothing in this package opens a socket, starts a task, reads a clock or
imports a module that does. Each rule of RFC 6455 (and RFC 7692, and the
HTTP/1.1 heads an upgrade needs) is written once, here:

- ``frames``     opcodes, close codes, close payloads, the ``Frame`` tuple (RFC 6455 §5, §7.4)
- ``messages``   the events a connection reports: Message, Ping, Pong, Close
- ``gate``       the frame-header rules, applied before any payload is kept
- ``assembler``  fragments → messages: reassembly, incremental UTF-8, bounded inflate
- ``reader``     the core around a frame engine: header walk, partial payloads, events
- ``codec``      the native fused codec: parser and reader in one loop
- ``deflate``    permessage-deflate: negotiation, bounded inflate, compress
- ``masking``    the client's masking and frame writer (§5.3)
- ``handshake``  the opening handshake: the offer and the checks of the 101
- ``http11``     the strict HTTP/1.1 head writer and bounded reader
"""
