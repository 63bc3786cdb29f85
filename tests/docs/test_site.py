"""The documentation site builds in strict mode: a broken link or API reference fails the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_site_builds_strict(tmp_path: Path) -> None:
    # The command the README gives, into a throwaway directory.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (tmp_path / "site" / "reference" / "openwire" / "index.html").read_text()
    # The reference is generated from the code, not an empty page.
    for name in ("openwire.Client.websocket", "openwire.Response.json", "openwire.WebSocket"):
        assert f'id="{name}"' in reference, f"{name} is missing from the API reference"
