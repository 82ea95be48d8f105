"""The quality-check results as JSON: replaced whole, through the file access it is given."""

from __future__ import annotations

import json
import uuid

from healthanalytics.io.files import LOCAL_FILES
from healthanalytics.io.quality_file import write_quality_checks
from healthanalytics.quality import CheckResult

CHECKS = [CheckResult("unique_city", True, "ok"), CheckResult("ranks", False, "2 gaps")]


def test_checks_replace_the_previous_file_and_leave_no_temporary(tmp_path):
    path = str(tmp_path / "out" / "quality_checks.json")
    write_quality_checks(CHECKS, path)
    assert write_quality_checks(CHECKS[:1], path) == path
    assert json.loads((tmp_path / "out" / "quality_checks.json").read_text()) == [
        {"name": "unique_city", "passed": True, "detail": "ok"}
    ]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["quality_checks.json"]


def test_checks_written_to_a_uri_through_the_file_access():
    # memory:// stands for any file system the access reaches by URI
    folder = f"memory://quality-{uuid.uuid4().hex}"
    write_quality_checks(CHECKS, f"{folder}/quality_checks.json", LOCAL_FILES)
    assert [e.path.rsplit("/", 1)[1] for e in LOCAL_FILES.list_files(folder)] == [
        "quality_checks.json"
    ]
    with LOCAL_FILES.open(f"{folder}/quality_checks.json") as handle:
        assert [c["name"] for c in json.load(handle)] == ["unique_city", "ranks"]
