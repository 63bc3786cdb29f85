"""MkDocs hooks: the benchmark page shows bench/'s own files, so it never goes stale.

``bench/run.py`` writes ``bench/RESULTS.md`` and ``bench/results.png``;
``docs/benchmarks.md`` includes the first (pymdownx.snippets) and this hook
adds the second to the site, so a new run updates the page with no copy to
keep in step. The image is registered as a documentation file, so strict mode
still checks the link to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
