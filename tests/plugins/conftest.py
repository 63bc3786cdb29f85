"""Real installs for plugin tests: packages are built and installed into a target dir.

Discovery reads entry points from installed distributions, so these tests
install small packages (with ``uv pip install --target``) instead of
patching the registry.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def install(target: Path, *projects: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--python",
            sys.executable,
            "--target",
            str(target),
            *map(str, projects),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def make_project(
    root: Path,
    name: str,
    entry_points: dict[str, str],
    modules: dict[str, str],
    group: str = "openwire",
) -> Path:
    """A minimal distribution ``name`` with modules and entry points in ``group``."""
    project = root / name
    package_dirs = {m.split(".")[0] for m in modules}
    for module, source in modules.items():
        path = project / (module.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    eps = "\n".join(f'{k} = "{v}"' for k, v in entry_points.items())
    packages = ", ".join(f'"{d}"' for d in sorted(package_dirs))
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "1.2.3"\n\n'
        f'[project.entry-points."{group}"]\n{eps}\n\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        f"[tool.hatch.build.targets.wheel]\npackages = [{packages}]\n"
    )
    return project


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``installed(*projects)``: install into a fresh dir that is put on sys.path."""
    target = tmp_path / "site"

    def run(*projects: Path) -> Path:
        install(target, *projects)
        monkeypatch.syspath_prepend(str(target))
        return target

    return run
