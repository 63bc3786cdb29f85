"""The benchmark harness still runs end to end (it is not a performance test).

Only clients and an echo server from the dev dependency group are used, so
this passes without the ``bench`` group installed; no timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr

    raw_files = list(tmp_path.glob("results-smoke-*.json"))
    assert len(raw_files) == 1
    raw = json.loads(raw_files[0].read_text())
    samples = raw["samples"]
    assert {s["client"] for s in samples} == {"openwire-native", "websockets"}
    assert {s["workload"] for s in samples} == {
        "rt-64b",
        "pipe-64b",
        "handshake",
        "idle-mem",
        "wss-rt-64b",
        "rt-16k-z",
        "fan-in",
    }
    failures = [f"{s['client']} {s['workload']}: {s['error']}" for s in samples if s["error"]]
    assert not failures, failures
    # Memory deltas of 20 connections can round to zero pages; rates cannot.
    assert all(s["value"] > 0 for s in samples if s["workload"] != "idle-mem")

    results = (tmp_path / "RESULTS.md").read_text()
    assert "## Targets" in results
    assert "openwire-native" in results
    assert "targets" in completed.stdout
