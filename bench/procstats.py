"""Process-level facts the benchmark needs: CPU time, RSS, pinning, fd limits, the machine.

Reading /proc directly (rather than psutil) keeps the harness free of another
dependency and lets a client read the *server's* CPU counters at the exact
edges of its own measurement window.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from importlib import metadata

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

# Distributions whose versions make a result reproducible.
LIBRARIES = (
    "openwire-core",
    "openwire-wsproto",
    "openwire-websockets",
    "openwire-aiohttp",
    "websockets",
    "aiohttp",
    "picows",
    "httpx",
    "httpx-ws",
    "wsproto",
    "anyio",
    "matplotlib",
)


def raise_fd_limit(wanted: int = 65536) -> int:
    """Lift the soft RLIMIT_NOFILE so 1000 idle connections (plus the server's) fit."""
    try:
        import resource
    except ImportError:  # not POSIX
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of another process, or None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; fields resume after the last ')'.
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def rss_bytes() -> int:
    """Resident set size now (not the peak, which ru_maxrss would give)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_count() -> int:
    return os.cpu_count() or 1


def can_pin() -> bool:
    """Pinning needs two cores: one for the server, one for the client."""
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def core_plan() -> tuple[int, int] | None:
    """(client core, server core): the last two cores this process may use."""
    if not can_pin():
        return None
    cores = sorted(os.sched_getaffinity(0))
    return cores[-2], cores[-1]


def taskset_prefix(core: int) -> list[str]:
    path = shutil.which("taskset")
    return [path, "-c", str(core)] if path else []


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine_info() -> dict[str, object]:
    return {
        "cpu_model": cpu_model(),
        "cores": cpu_count(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "platform": platform.platform(),
        "libraries": library_versions(),
    }
