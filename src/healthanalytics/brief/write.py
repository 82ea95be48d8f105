"""The brief written to a local folder: `launch_brief.html`, its charts as PNG files and its
tables as CSV files in `charts/`, each file written under a temporary name and moved in."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from healthanalytics.brief.page import Brief

BRIEF_FILE = "launch_brief.html"
CHARTS_FOLDER = "charts"


def _write_atomic(path: Path, data: bytes) -> None:
    """`data` at `path`, never seen half-written; created as any file is (the umask's mode,
    not a temporary file's 0600: the page is meant to be shared)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "xb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_brief(brief: Brief, output: str | Path) -> Path:
    """The page at `<output>/launch_brief.html`, the charts and tables in `<output>/charts/`;
    returns the page's path."""
    folder = Path(output)
    charts = folder / CHARTS_FOLDER
    charts.mkdir(parents=True, exist_ok=True)
    for chart in brief.charts:
        _write_atomic(charts / f"{chart.name}.png", chart.png)
    for name, table in brief.tables.items():
        _write_atomic(charts / f"{name}.csv", table.to_csv(index=False).encode())
    page = folder / BRIEF_FILE
    _write_atomic(page, brief.html.encode())
    return page
