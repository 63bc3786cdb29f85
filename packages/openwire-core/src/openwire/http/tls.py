"""Building the one ``ssl.SSLContext`` a client uses.

Verification is on by default against certifi's bundle, so results do not
depend on how the host's OpenSSL was packaged. ``verify="system"`` asks the
operating system's trust store instead (through truststore: the Keychain on
macOS, the Windows certificate store, OpenSSL's default paths on Linux), for
machines whose administrators install their CAs there; it needs
``openwire-core[truststore]``. The context is built once per client: loading
a CA bundle is slow and contexts are safe to share.
"""

from __future__ import annotations

import os
import ssl

import certifi

__all__ = ["ALPN_H2", "ALPN_HTTP11", "Verify", "create_ssl_context"]

# What a TLS handshake offers by ALPN (RFC 7301), set on the context right
# before each handshake: a context the application passed serves every kind
# of connection, and the list last set on it is the one a handshake offers.
# Setting it and starting the handshake (which copies it) happen with no
# await in between, so connections on one event loop cannot mix their lists;
# clients on several threads sharing one context still could (an upgrade
# then refuses an h2 answer: openwire.http.upgrade).
ALPN_HTTP11 = ["http/1.1"]
"""An RFC 6455 upgrade, a tunnel through an ``https`` proxy: HTTP/1.1 only."""
ALPN_H2 = ["h2", "http/1.1"]
"""A connection that may carry HTTP/2 (RFC 8441 WebSockets), HTTP/1.1 the fallback."""

Verify = bool | str | ssl.SSLContext
ClientCert = str | tuple[str, str] | tuple[str, str, str]


def create_ssl_context(verify: Verify = True, cert: ClientCert | None = None) -> ssl.SSLContext:
    """``verify``: True (certifi), ``"system"`` (the OS store), a CA path, a context, or False.

    A given ``ssl.SSLContext`` is used as-is; a client ``cert`` is then loaded
    into it, so pass one or the other if the context is shared elsewhere.
    """
    if isinstance(verify, ssl.SSLContext):
        context = verify
    elif verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif verify is True:
        context = ssl.create_default_context(cafile=certifi.where())
    elif verify == "system":
        context = _system_context()
    elif os.path.isdir(verify):
        context = ssl.create_default_context(capath=verify)
    elif os.path.isfile(verify):
        context = ssl.create_default_context(cafile=verify)
    else:
        raise ValueError(
            f"verify={verify!r} is neither a CA bundle file nor a directory; "
            'pass True, False, "system", a path that exists, or an ssl.SSLContext'
        )
    if context is not verify:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        if isinstance(cert, str):
            context.load_cert_chain(cert)
        elif len(cert) == 2:
            context.load_cert_chain(cert[0], cert[1])
        else:
            context.load_cert_chain(cert[0], cert[1], cert[2])
    return context


def _system_context() -> ssl.SSLContext:
    try:
        import truststore
    except ImportError:
        raise ImportError(
            'verify="system" uses the operating system\'s trust store through the '
            "truststore package, which is not installed; install openwire-core[truststore] "
            "(or pip install truststore), or pass verify=True for certifi's bundle"
        ) from None
    context: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return context
