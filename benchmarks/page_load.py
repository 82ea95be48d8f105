"""The launch brief as its reader gets it: the page's size and how long headless Chromium takes to
load it from a file:// URL with the network off (issue 16's target: under 3 MB and 1 s for the
25M-row run). Chromium is Debian's `chromium`, driven by playwright, as in tests/brief/test_page.py.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

LOADS = 3  # each in a fresh browser context: nothing cached from the previous load


def page_figures(page: Path) -> dict:
    """`brief_bytes` (the HTML file, charts included) and `page_load_seconds`: the median over
    LOADS of the navigation's start to the end of its load event (every embedded image decoded),
    None when Chromium or playwright is missing, or when the run wrote no page."""
    if not page.exists():
        return {"brief_bytes": None, "page_load_seconds": None}
    return {"brief_bytes": page.stat().st_size, "page_load_seconds": _load_seconds(page)}


def _load_seconds(page: Path) -> float | None:
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    loads = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for _ in range(LOADS):
                context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
                tab = context.new_page()
                tab.goto(page.as_uri(), wait_until="load")
                loads.append(
                    tab.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
                    / 1000
                )
                context.close()
        finally:
            browser.close()
    return statistics.median(loads)
