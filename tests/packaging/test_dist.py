"""The packages as they would be published: built, checked, installed into a clean virtualenv.

``uv build`` makes every wheel and sdist; their metadata is checked as an index
would show it (``twine check``, the license, classifiers, the README, bounded
dependencies); then a fresh virtualenv outside the workspace gets the built
wheels with ``openwire-core[testing]`` and the example third-party engine, and
runs the conformance command ``docs/engines.md`` documents, as a third party
would. One engine on asyncio keeps it short; the workspace suite runs the rest.
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "openwire-core",
    "openwire-wsproto",
    "openwire-websockets",
    "openwire-aiohttp",
    "openwire-opentelemetry",
]
LICENSE = (ROOT / "LICENSE").read_text()

pytestmark = pytest.mark.slow


def _uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def _clean_env() -> dict[str, str]:
    """The environment without the workspace's virtualenv, so nothing leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT", "PYTHONHOME"}
    }
    env["NO_COLOR"] = "1"
    return env


def _run(command: list[str], cwd: Path, timeout: float = 180) -> str:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_clean_env()
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([*_uv(), "build", "--all-packages", "--out-dir", str(out), "--quiet"], ROOT)
    return out


def _wheel(dist: Path, package: str) -> Path:
    (wheel,) = dist.glob(f"{package.replace('-', '_')}-*.whl")
    return wheel


def _sdist(dist: Path, package: str) -> Path:
    (sdist,) = dist.glob(f"{package.replace('-', '_')}-*.tar.gz")
    return sdist


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode())


def test_twine_check(dist: Path) -> None:
    files = sorted(str(path) for path in dist.glob("openwire_*"))  # uv adds a .gitignore
    assert len(files) == 2 * len(PACKAGES), files
    output = _run([sys.executable, "-m", "twine", "check", "--strict", *files], ROOT)
    assert output.count("PASSED") == len(files), output


@pytest.mark.parametrize("package", PACKAGES)
def test_wheel_and_sdist_carry_license_readme_and_types(dist: Path, package: str) -> None:
    module = {"openwire-core": "openwire"}.get(package, package.replace("-", "_"))
    with zipfile.ZipFile(_wheel(dist, package)) as archive:
        names = archive.namelist()
        (license_name,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(license_name).decode() == LICENSE
        assert f"{module}/py.typed" in names
    with tarfile.open(_sdist(dist, package)) as archive:
        top = archive.getnames()[0].split("/")[0]
        for member in ("LICENSE", "README.md", "pyproject.toml"):
            assert f"{top}/{member}" in archive.getnames(), f"{member} is missing from the sdist"
        license_file = archive.extractfile(f"{top}/LICENSE")
        assert license_file is not None
        assert license_file.read().decode() == LICENSE


@pytest.mark.parametrize("package", PACKAGES)
def test_metadata_is_what_an_index_shows(dist: Path, package: str) -> None:
    meta = _metadata(_wheel(dist, package))
    assert meta["Name"] == package
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Description-Content-Type"] == "text/markdown"
    body = meta.get_payload()
    assert isinstance(body, str)
    assert f"pip install {package}" in body, "the README says how to install the package"
    assert "```python" in body, "the README shows an example"
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Programming Language :: Python :: 3.") for c in classifiers)
    for line in meta.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.name == "certifi":
            continue  # a CA bundle: newer is always better
        assert requirement.specifier, f"{package} depends on {line} with no version bound"
    if package == "openwire-core":
        sys.path.insert(0, str(ROOT / "packages" / "openwire-core" / "src"))
        from openwire._version import __version__

        assert meta["Version"] == __version__, "the wheel's version is not openwire/_version.py"
        testing = [r for r in meta.get_all("Requires-Dist") or [] if "extra == 'testing'" in r]
        # The conformance suite's peers: a websockets and an aiohttp echo server.
        for needed in ("pytest", "websockets", "aiohttp", "trio"):
            assert any(Requirement(r).name == needed for r in testing), needed


def test_every_package_license_is_the_root_license() -> None:
    for package in PACKAGES:
        assert (ROOT / "packages" / package / "LICENSE").read_text() == LICENSE, package


@pytest.fixture(scope="module")
def clean_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv outside the workspace with the built wheels and the example engine."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    python = str(venv / "bin" / "python")
    _run([*_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], venv.parent)
    install = [*_uv(), "pip", "install", "--quiet", "--python", python, "--find-links", str(dist)]
    requirements = [
        "openwire-core[testing]",
        "openwire-wsproto",
        str(ROOT / "examples" / "third-party-engine"),
    ]
    try:  # from the uv cache when it has everything, so the test also runs offline
        _run([*install, "--offline", *requirements], venv.parent)
    except AssertionError:
        _run([*install, *requirements], venv.parent)
    return venv


def test_versions_in_a_clean_install(clean_venv: Path) -> None:
    sys.path.insert(0, str(ROOT / "packages" / "openwire-core" / "src"))
    from openwire._version import __version__

    openwire = str(clean_venv / "bin" / "openwire")
    assert _run([openwire, "--version"], clean_venv).strip() == f"openwire {__version__}"
    listing = _run([openwire, "engines"], clean_venv)
    assert re.search(r"recording\s+openwire-recording-engine\s+0\.1\.0", listing), listing
    assert re.search(rf"native\s+openwire-core\s+{re.escape(__version__)}", listing), listing


SUBSET = "asyncio and not uvloop and not test_compression"


def test_conformance_suite_runs_on_a_third_party_engine(clean_venv: Path) -> None:
    # The command of docs/engines.md, run from outside the checkout: on asyncio only,
    # and without the RFC 7692 module (the core's inflater, the same for every engine),
    # to keep the test command short; the workspace suite runs all of it.
    command = (
        "pytest -p openwire.testing.plugin --pyargs openwire.testing.conformance "
        "--openwire-engine recording"
    )
    assert command in (ROOT / "docs" / "engines.md").read_text()
    args = command.split()
    args[0] = str(clean_venv / "bin" / "pytest")
    output = _run(
        [*args, "-q", "-x", "-p", "no:cacheprovider", "-k", SUBSET],
        clean_venv,
        timeout=300,
    )
    assert re.search(r"\d+ passed", output) and "failed" not in output.split("\n")[-2], output
    assert "recording" in output  # the matrix names the engine


def test_the_packages_are_released_under_one_version() -> None:
    # docs/releasing.md: the four packages share a version, and each adapter's
    # bound on openwire-core admits it (an engine is written for one contract).
    import tomllib

    from packaging.version import Version

    sys.path.insert(0, str(ROOT / "packages" / "openwire-core" / "src"))
    from openwire._version import __version__

    core = Version(__version__)
    for package in PACKAGES[1:]:
        project = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())
        project = project["project"]
        assert Version(project["version"]) == core, f"{package} is not at {core}"
        (bound,) = [
            Requirement(d) for d in project["dependencies"] if d.startswith("openwire-core")
        ]
        assert core in bound.specifier, f"{package}'s {bound} does not admit openwire-core {core}"
