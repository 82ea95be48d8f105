"""Writing the data-quality check results as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import suppress

from healthanalytics.io.files import LOCAL_FILES, FileAccess, join_path, split_path
from healthanalytics.io.report_files import run_tag, staging_name
from healthanalytics.quality import CheckResult


def write_quality_checks(
    checks: Sequence[CheckResult], path: str, files: FileAccess = LOCAL_FILES
) -> str:
    """The checks as a JSON list at `path` (a local path or a URI that `files` reaches), written
    under a temporary name of its own (`.quality_checks.json.tmp-TAG`) and then moved into
    place, so it is never seen half-written (and locally never missing)."""
    folder, name = split_path(path)
    tmp = join_path(folder, staging_name(name, run_tag()))
    try:
        with files.create(tmp) as out:
            out.write((json.dumps([c.to_dict() for c in checks], indent=2) + "\n").encode())
        files.replace(tmp, path)
    except BaseException:
        with suppress(OSError):  # must not hide the error of the write
            files.remove(tmp)
        raise
    return path
