"""MkDocs hooks, and a griffe extension for the API reference.

The benchmark page shows bench/'s own files, so it never goes stale.

``bench/run.py`` writes ``bench/RESULTS.md`` and ``bench/results.png``;
``docs/benchmarks.md`` includes the first (pymdownx.snippets) and this hook
adds the second to the site, so a new run updates the page with no copy to
keep in step. The image is registered as a documentation file, so strict mode
still checks the link to it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe
from mkdocs.structure.files import File, Files

BENCH = Path(__file__).resolve().parent / "bench"


def on_files(files: Files, config: Any) -> Files:
    """Serve ``bench/results.png`` as ``results.png``, next to the benchmark page."""
    files.append(
        File(
            "results.png",
            src_dir=str(BENCH),
            dest_dir=config["site_dir"],
            use_directory_urls=config["use_directory_urls"],
        )
    )
    return files


# :class:`~openwire.errors.Foo`, :meth:`Client.get`, ... (Sphinx roles, which the
# docstrings use because they read well in help() and an IDE too).
_ROLE = re.compile(r":(?:class|meth|func|mod|data|attr|exc|obj):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRoles(griffe.Extension):
    """Render the docstrings' Sphinx roles as code, as Sphinx shows them.

    Plain code rather than links: many name private modules the reference
    does not render, and a link to nothing would fail the strict build.
    """

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the roles of each object's docstring as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_code, obj.docstring.value)
