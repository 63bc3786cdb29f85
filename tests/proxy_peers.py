"""Proxies that demand credentials, on loopback: tinyproxy, microsocks and squid.

Each refuses a wrong password its own way, which is the point of having
three: squid answers ``CONNECT`` with a real ``407``, tinyproxy with ``401``,
microsocks with an RFC 1929 status other than 0. All accept
:data:`PROXY_USER` / :data:`PROXY_PASSWORD`.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from openwire.testing.servers import BackgroundLoop, EchoServer

from tests.http_peers import Proxy, _debian_binary, _serve, free_port, run_tinyproxy

PROXY_USER = "wire"
PROXY_PASSWORD = "s3cret"


def with_credentials(proxy: Proxy, user: str = PROXY_USER, password: str = PROXY_PASSWORD) -> str:
    """The proxy's URL with ``user:password@`` in it."""
    scheme, _, rest = proxy.url.partition("://")
    return f"{scheme}://{user}:{password}@{rest}"


@pytest.fixture(scope="session")
def tinyproxy_with_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """tinyproxy with ``BasicAuth``: it answers 401 to a CONNECT with wrong credentials."""
    yield from run_tinyproxy(tmp_path_factory, [f"BasicAuth {PROXY_USER} {PROXY_PASSWORD}"])


@pytest.fixture(scope="session")
def socks_proxy_with_auth() -> Iterator[Proxy]:
    """microsocks with ``-u``/``-P``: RFC 1929 login required."""
    binary = _debian_binary("microsocks", "microsocks")
    port = free_port()
    command = [binary, "-i", "127.0.0.1", "-p", str(port), "-u", PROXY_USER, "-P", PROXY_PASSWORD]
    yield from _serve(command, Proxy(f"socks5://127.0.0.1:{port}", port))


@pytest.fixture(scope="session")
def squid_with_auth() -> Iterator[Proxy]:
    """squid with Basic auth (``basic_ncsa_auth``): a real 407 to CONNECT. Listens in ~0.1 s.

    Run as root, squid drops to its own user, so its files live in a folder
    that user can read (pytest's temporary folders are private).
    """
    binary = _debian_binary("squid", "squid")
    helper = Path("/usr/lib/squid/basic_ncsa_auth")
    if not helper.exists():
        pytest.fail(f"squid is installed but {helper} is missing; reinstall the squid package")
    folder = Path(tempfile.mkdtemp(prefix="openwire-squid-"))
    folder.chmod(0o755)
    hashed = subprocess.run(
        ["openssl", "passwd", "-apr1", PROXY_PASSWORD], check=True, capture_output=True, text=True
    ).stdout.strip()
    passwords = folder / "passwd"
    passwords.write_text(f"{PROXY_USER}:{hashed}\n")
    passwords.chmod(0o644)
    port = free_port()
    conf = folder / "squid.conf"
    conf.write_text(
        "\n".join(
            [
                f"http_port 127.0.0.1:{port}",
                "pid_filename none",
                "cache deny all",
                "access_log none",
                "cache_store_log none",
                "cache_log stdio:/dev/stderr",
                "logfile_rotate 0",
                f"coredump_dir {folder}",
                "shutdown_lifetime 0 seconds",
                f"auth_param basic program {helper} {passwords}",
                "auth_param basic realm openwire",
                "acl authenticated proxy_auth REQUIRED",
                "http_access allow authenticated",
                "http_access deny all",
                "",
            ]
        )
    )
    conf.chmod(0o644)
    try:
        yield from _serve([binary, "-N", "-f", str(conf)], Proxy(f"http://127.0.0.1:{port}", port))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def ws_origin(server_loop: BackgroundLoop) -> Iterator[EchoServer]:
    """A websockets echo server (ws://) behind the proxies."""
    server = EchoServer(server_loop).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def wss_origin(server_loop: BackgroundLoop, ca: trustme.CA) -> Iterator[EchoServer]:
    """The same over TLS (wss://), with a certificate from the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = EchoServer(server_loop, ssl_context=context).start()
    yield server
    server.stop()
