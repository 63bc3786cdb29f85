"""The documentation site builds in strict mode: a broken link or API reference fails the suite."""

from __future__ import annotations

import importlib
import os
import re
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
    # Every public name of every package has its entry in the API reference.
    pages = {
        "openwire": ["openwire"],
        "testing": [
            "openwire.testing.plugin",
            "openwire.testing.servers",
            "openwire.testing.frames",
        ],
        "engines": ["openwire_wsproto", "openwire_websockets", "openwire_aiohttp"],
    }
    for page, modules in pages.items():
        html = (tmp_path / "site" / "reference" / page / "index.html").read_text()
        anchors = set(re.findall(r'id="([\w.]+)"', html))
        for module_name in modules:
            module = importlib.import_module(module_name)
            for name in module.__all__:
                # openwire.engines is the registry instance: its class is documented.
                anchor = (
                    "openwire.engines.registry.EngineRegistry"
                    if f"{module_name}.{name}" == "openwire.engines"
                    else f"{module_name}.{name}"
                )
                assert anchor in anchors, f"{module_name}.{name} is not in reference/{page}"
        if page == "openwire":  # with their members
            assert {"openwire.Client.websocket", "openwire.Response.json"} <= anchors
