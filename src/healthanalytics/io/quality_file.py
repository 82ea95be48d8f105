"""Writing the data-quality check results as JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from healthanalytics.quality import CheckResult


def write_quality_checks(checks: Sequence[CheckResult], path: Path) -> Path:
    """The checks as a JSON list at `path`, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps([c.to_dict() for c in checks], indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
