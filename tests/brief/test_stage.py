"""The brief stage of a run: written after the delivery, a failure only a warning; and the
page of a delivery without analysis, rebuilt from the warehouse, saying what it does not show."""

from __future__ import annotations

import json
from pathlib import Path

from tests.brief.test_page import assert_shows_a_page, brief_cli, open_page
from tests.conftest import RUN_DATE, SAMPLE, run_case


def test_a_brief_that_cannot_be_written_does_not_fail_the_run(tmp_path, monkeypatch):
    from healthanalytics.io.publish import LocalOutput

    out, db = tmp_path / "out", str(tmp_path / "w.duckdb")
    assert run_case(SAMPLE, output=out, db=db).error is None
    assert (out / "launch_brief.html").exists()
    # the next run's page fails to be written, after its charts were
    written = LocalOutput.write_file

    def full_disk(self, name: str, data: bytes) -> str:
        if name == "launch_brief.html":
            raise OSError("No space left on device")
        return written(self, name, data)

    monkeypatch.setattr(LocalOutput, "write_file", full_disk)
    outcome = run_case(SAMPLE, output=out, db=db)
    assert outcome.error is None
    assert outcome.record["status"] == "success"
    assert "the launch brief was not written: OSError: No space left on device" in outcome.log
    # neither the earlier run's brief nor part of this one's is left beside the new reports
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "city_report", "prescriber_report", "quality_checks.json"
    ]  # fmt: skip
    assert not list(out.glob(".launch_brief*"))  # no temporary file left


def test_a_folder_shows_only_the_last_runs_brief(tmp_path):
    out, db = tmp_path / "out", str(tmp_path / "w.duckdb")
    assert run_case(SAMPLE, output=out, db=db).error is None
    charts = {p.name for p in (out / "charts").iterdir()}
    (out / "charts" / "model_lift.png").write_bytes(b"an earlier run's chart")
    assert run_case(SAMPLE, output=out, db=db).error is None
    assert {p.name for p in (out / "charts").iterdir()} == charts
    # a run without the analysis writes no brief, and leaves none of another run's
    assert run_case(SAMPLE, output=out, db=db, analysis=False).error is None
    assert not (out / "launch_brief.html").exists()
    assert not (out / "charts").exists()


def test_run_outputs_name_the_brief_and_its_checks_are_the_runs(tmp_path):
    out = tmp_path / "out"
    outcome = run_case(SAMPLE, output=out, db=str(tmp_path / "w.duckdb"))
    assert outcome.error is None
    checks = json.loads((out / "quality_checks.json").read_text())
    shown = (out / "charts" / "quality_checks.csv").read_text().splitlines()
    assert len(shown) == len(checks) + 1  # a header, then one line per check
    assert f"{len(checks)} of {len(checks)} passed" in (out / "launch_brief.html").read_text()


def test_brief_of_a_delivery_without_analysis_says_what_is_not_shown(tmp_path):
    db = str(tmp_path / "w.duckdb")
    outcome = run_case(SAMPLE, output=tmp_path / "out", db=db, analysis=False)
    assert outcome.error is None
    done = brief_cli("--db", db, "--run-date", RUN_DATE.isoformat(), "--output", "b",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    screenshot = tmp_path / "shot.png"
    found = open_page(tmp_path / "b" / "launch_brief.html", screenshot)
    assert_shows_a_page(found, screenshot)
    text = found["text"]
    assert "Not shown: the run did not compute the launch analysis (it was run with " in text
    assert "Not shown: the run's quality checks (the warehouse does not store them" in text
    # the data quality and geography still shown, from the reports and the run's row
    assert [alt.split(" ")[0] for alt, _, _ in found["images"]] == ["Scatter", "Bar"]
    assert set(found["figures"]) == {"rows_read", "claims_matched_share"}


def test_brief_files_are_readable_as_any_file_the_user_writes(tmp_path):
    from healthanalytics.brief.page import Brief
    from healthanalytics.brief.write import write_brief
    from healthanalytics.io.files import LOCAL_FILES
    from healthanalytics.io.publish import LocalOutput

    plain = tmp_path / "plain"
    plain.write_bytes(b"x")  # the mode the umask gives
    written = write_brief(
        Brief("<html></html>", (), {}), LocalOutput(str(tmp_path / "out"), LOCAL_FILES)
    )
    page = Path(written)
    assert page.read_text() == "<html></html>"
    assert page.stat().st_mode == plain.stat().st_mode
    # no chart and no table: no charts/ folder (as on S3, which has no empty folders)
    assert sorted(p.name for p in page.parent.iterdir()) == ["launch_brief.html"]


def test_brief_command_refuses_an_s3_output_in_one_line(tmp_path):
    # a published S3 delivery is never changed: its brief comes with the run that publishes it
    done = brief_cli("--db", "w.duckdb", "--run-date", RUN_DATE.isoformat(), "--output",
                     "s3://bucket/out", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [
        "error: --output s3://bucket/out: healthanalytics brief writes to a local folder only; "
        "on S3 the brief is published with its delivery by `healthanalytics run --output "
        "s3://…` (a published delivery is never changed): pass a local folder, or run the date "
        "again"
    ]
    assert list(tmp_path.iterdir()) == []
