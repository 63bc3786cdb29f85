"""The Autobahn|Testsuite fuzzing server, on loopback, for the client conformance runs.

The fuzzing server (``wstest -m fuzzingserver``) is the reference check every
WebSocket implementation publishes its results against: 517 cases covering
framing, pings, reserved bits and opcodes, fragmentation, UTF-8 (including
fail-fast on invalid sequences split across frames), close codes, message
sizes up to 16 MiB and permessage-deflate (RFC 7692) with every parameter
combination. It only runs on Python 2.7, so the set-up finds an interpreter
(``OPENWIRE_PYTHON2``, ``python2.7`` on ``PATH``, or one installed by pyenv),
installs ``autobahntestsuite`` for it into a cache folder once, and starts the
server with a spec naming the cases to run. A machine without Python 2.7 skips
these tests and says why; nothing else in the suite depends on them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.http_peers import free_port

AUTOBAHN_VERSION = "25.10.1"
"""An ``autobahntestsuite`` release that pins its own dependencies for Python 2.7."""

# Run by the default test command: everything but the compression cases (12.*,
# 13.*: ~1,000 messages each through a pure-Python deflate in the server, over
# 15 minutes for the whole set) and the bulk cases (9.*: up to 16 MiB per
# message). A few of each stay in, so compression and large messages are
# still checked on every engine; ``-m soak`` runs all 517.
QUICK_CASES = [
    "1.*",
    "2.*",
    "3.*",
    "4.*",
    "5.*",
    "6.*",
    "7.*",
    "9.1.1",
    "9.1.2",
    "9.2.1",
    "9.2.2",
    "10.*",
    "12.1.1",
    "12.1.2",
    "12.2.1",
    "13.1.1",
    "13.2.1",
    "13.3.1",
    "13.4.1",
    "13.5.1",
    "13.6.1",
    "13.7.1",
]
ALL_CASES = ["*"]

# site.addsitedir rather than PYTHONPATH: the install folder's .pth files must
# be read, or zope.interface (a namespace package Twisted needs) is not found.
_WSTEST = """\
import site, sys
site.addsitedir(sys.argv.pop(1))
from autobahntestsuite import wstest
sys.argv[0] = "wstest"
wstest.run()
"""


@dataclass
class FuzzingServer:
    url: str
    reports: Path

    def results(self, agent: str) -> dict[str, dict[str, object]]:
        """Case id → the server's verdict for ``agent`` (after ``/updateReports``)."""
        index = json.loads((self.reports / "index.json").read_text())
        if agent not in index:
            raise AssertionError(
                f"the fuzzing server has no report for agent {agent!r}; it has {sorted(index)}"
            )
        return index[agent]  # type: ignore[no-any-return]


def _python2() -> str | None:
    candidates = [os.environ.get("OPENWIRE_PYTHON2"), shutil.which("python2.7")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p / "bin" / "python") for p in sorted(pyenv.glob("2.7*"))]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (2, 7))"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.stdout.strip() == "True":
            return candidate
    return None


def _install(python2: str) -> Path:
    """``autobahntestsuite`` for ``python2``, in a cache folder shared by runs."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    target = cache / "openwire-tests" / f"autobahntestsuite-{AUTOBAHN_VERSION}-py27"
    marker = target / ".installed"
    if marker.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    command = [
        python2,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        f"autobahntestsuite=={AUTOBAHN_VERSION}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail(
            f"installing autobahntestsuite {AUTOBAHN_VERSION} for {python2} failed:\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    marker.touch()
    return target


def _start(tmp: Path, cases: list[str]) -> Iterator[FuzzingServer]:
    python2 = _python2()
    if python2 is None:
        pytest.skip(
            "the Autobahn fuzzing server needs Python 2.7: set OPENWIRE_PYTHON2 to one, "
            "or install it (for example `pyenv install 2.7.18`)"
        )
    packages = _install(python2)
    port = free_port()
    reports = tmp / "reports"
    spec = tmp / "fuzzingserver.json"
    spec.write_text(
        json.dumps(
            {
                "url": f"ws://127.0.0.1:{port}",
                "outdir": str(reports),
                "cases": cases,
                "exclude-cases": [],
                "exclude-agent-cases": {},
            }
        )
    )
    log = (tmp / "fuzzingserver.log").open("wb")
    # --webport 0: no report browser on port 8080 (it would clash with anything there).
    command = [python2, "-c", _WSTEST, str(packages), "-m", "fuzzingserver"]
    command += ["--webport", "0", "-s", str(spec)]
    process = subprocess.Popen(command, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    with process, log:
        try:
            _wait_listening(port, process, tmp / "fuzzingserver.log")
            yield FuzzingServer(f"ws://127.0.0.1:{port}", reports)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"the Autobahn fuzzing server did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def fuzzing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzingServer]:
    """The fuzzing server with the quick case set (see :data:`QUICK_CASES`)."""
    yield from _start(tmp_path_factory.mktemp("autobahn-quick"), QUICK_CASES)


@pytest.fixture(scope="session")
def fuzzing_server_all(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzingServer]:
    """The fuzzing server with all 517 cases."""
    yield from _start(tmp_path_factory.mktemp("autobahn-all"), ALL_CASES)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the default run short: the wrapped engines' quick runs on uvloop and trio are soak.

    The native engine runs the quick cases on every backend, each wrapped
    engine on asyncio; ``-m soak`` adds the rest (and all 517 cases).
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or not item.nodeid.startswith("tests/autobahn/"):
            continue
        backend = callspec.params.get("anyio_backend")
        if callspec.params.get("engine") != "native" and backend != "asyncio":
            item.add_marker(pytest.mark.soak)
