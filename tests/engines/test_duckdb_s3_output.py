"""The DuckDB engine publishing its outputs to a real S3-compatible server (moto on loopback,
tests/s3_server.py) with the standard AWS environment: the run's own prefix, the manifest,
the date's pointer switched by a conditional write (io/publish.py).

A reader follows the pointer to the manifest and the manifest to the files; every published
delivery is checked that way: complete, each file of the listed size and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from healthanalytics.io.publish import PointerOutput, read_delivery
from healthanalytics.io.report_files import read_report_files
from healthanalytics.io.s3 import S3Files
from tests.conftest import RUN_DATE, SAMPLE, read_tables, run_case, run_cli
from tests.s3_faults import fault_proxy
from tests.s3_server import Bucket

REPORTS = ("city_report", "prescriber_report")
POINTER = f"out/deliveries/{RUN_DATE.isoformat()}.json"
RUNS = f"out/runs/{RUN_DATE.isoformat()}/"


def published(bucket: Bucket) -> tuple[dict[str, Any], dict[str, Any]]:
    """The date's pointer and the manifest it names, after checking the manifest's files
    are all there with the listed sizes and checksums."""
    pointer = json.loads(bucket.get(POINTER))
    manifest = json.loads(bucket.get(f"out/{pointer['manifest']}"))
    assert manifest["run_id"] == pointer["run_id"]
    folder = f"out/{pointer['manifest'].rsplit('/', 1)[0]}"
    for entry in manifest["files"]:
        data = bucket.get(f"{folder}/{entry['key']}")
        assert len(data) == entry["bytes"], entry
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry
    return pointer, manifest


def download(bucket: Bucket, manifest: dict[str, Any], pointer: dict, dest: Path) -> Path:
    """The files the manifest lists, copied below `dest`."""
    folder = f"out/{pointer['manifest'].rsplit('/', 1)[0]}"
    for entry in manifest["files"]:
        path = dest / entry["key"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bucket.get(f"{folder}/{entry['key']}"))
    return dest


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=repr)


def run_ids(bucket: Bucket) -> set[str]:
    """The run prefixes of the date in the bucket."""
    return {key.removeprefix(RUNS).split("/", 1)[0] for key in bucket.keys(RUNS)}


def s3_run(bucket: Bucket, tmp_path: Path, name: str, **settings: Any):
    return run_case(
        SAMPLE, output=bucket.uri("out"), db=str(tmp_path / f"{name}.duckdb"), **settings
    )


def test_reports_on_s3_equal_a_local_run_and_the_pointer_names_a_complete_manifest(
    s3_bucket, tmp_path
):
    local = run_case(SAMPLE, output=tmp_path / "local", db=str(tmp_path / "local.duckdb"))
    remote = s3_run(s3_bucket, tmp_path, "s3")
    assert local.error is None and remote.error is None, (local.error, remote.error)
    pointer, manifest = published(s3_bucket)
    assert pointer["run_id"] == remote.record["run_id"] == manifest["run_id"]
    got = download(s3_bucket, manifest, pointer, tmp_path / "got")
    for name in REPORTS:
        here, there = tmp_path / "local" / name, got / name
        # the same part files, and the same rows in them, table by table
        assert sorted(p.name for p in there.iterdir()) == sorted(p.name for p in here.iterdir())
        assert rows(read_report_files(there)) == rows(read_report_files(here))
        assert manifest["reports"][name]["rows"] == read_report_files(here).num_rows
    checks = json.loads((got / "quality_checks.json").read_text())
    assert checks == json.loads((tmp_path / "local" / "quality_checks.json").read_text())
    # nothing of the run lies outside its prefix but the pointer
    outside = [k for k in s3_bucket.keys("out/") if not k.startswith(RUNS)]
    assert outside == [POINTER]
    # the warehouse holds what the local run's holds
    assert rows(remote.tables["city_report"]) == rows(local.tables["city_report"])


def brief_files(folder: Path) -> dict[str, bytes]:
    """The launch brief's files below a local output `folder` (or a downloaded delivery), by
    key; the page with its run id blanked (it names the run that wrote it, the one difference
    between two runs' briefs of the same delivery)."""
    found = {"launch_brief.html": (folder / "launch_brief.html").read_bytes()}
    found["launch_brief.html"] = re.sub(rb"run [0-9a-f]{32}", b"run -", found["launch_brief.html"])
    for path in sorted((folder / "charts").iterdir()):
        found[f"charts/{path.name}"] = path.read_bytes()
    return found


def test_the_brief_is_published_in_the_delivery_as_a_local_run_writes_it(s3_bucket, tmp_path):
    local = run_case(SAMPLE, output=tmp_path / "local", db=str(tmp_path / "local.duckdb"))
    remote = s3_run(s3_bucket, tmp_path, "s3")
    assert local.error is None and remote.error is None, (local.error, remote.error)
    pointer, manifest = published(s3_bucket)  # every listed file's bytes and SHA-256 checked
    expected = brief_files(tmp_path / "local")
    assert len(expected) > 10 and any(key.endswith(".csv") for key in expected)
    listed = {e["key"] for e in manifest["files"]}
    assert {k for k in listed if k == "launch_brief.html" or k.startswith("charts/")} == set(
        expected
    )
    assert manifest["launch_brief"] == "written"
    # byte for byte the local run's files, the page's run id aside
    assert brief_files(download(s3_bucket, manifest, pointer, tmp_path / "got")) == expected
    # a reader following the pointer finds them
    delivery = read_delivery(s3_bucket.uri("out"), RUN_DATE, checksums=True)
    assert delivery is not None and delivery.run_id == remote.record["run_id"]
    page = f"{delivery.folder}/launch_brief.html"
    assert page in delivery.paths()
    assert any(m == f"launch brief written to {page}" for m in remote.log)


def test_a_brief_failing_half_way_on_s3_is_published_without_and_says_so(
    s3_bucket, s3_endpoint, tmp_path, monkeypatch
):
    with fault_proxy(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        # the brief's data-quality chart cannot be uploaded: other charts are written before it
        proxy.plan = lambda verb, path, _: (
            "503" if verb == "PUT" and path.split("?")[0].endswith("/data_quality.png") else None
        )
        outcome = s3_run(s3_bucket, tmp_path, "s3")
    assert outcome.error is None, outcome.error
    assert outcome.record["status"] == "success"
    assert proxy.faults["botocore"] >= 1
    pointer, manifest = published(s3_bucket)
    assert manifest["launch_brief"].startswith("not written: "), manifest
    assert any(m.startswith("the launch brief was not written: ") for m in outcome.log)
    # the charts written before the failure were removed: none listed, none left in the prefix
    run = f"{RUNS}{pointer['run_id']}/"
    assert [k for k in s3_bucket.keys(run) if "charts/" in k or k.endswith(".html")] == []
    assert {e["key"].split("/")[0] for e in manifest["files"]} == {
        "city_report", "prescriber_report", "quality_checks.json"
    }  # fmt: skip


def test_a_stale_writer_is_refused_and_the_other_delivery_stays(s3_bucket, tmp_path, monkeypatch):
    first = s3_run(s3_bucket, tmp_path, "first", analysis=False)
    assert first.error is None, first.error
    other: dict[str, Any] = {}
    read_pointer = PointerOutput.__post_init__

    def another_run_publishes_meanwhile(self: PointerOutput) -> None:
        read_pointer(self)  # this run has read the pointer: another run now publishes
        if not other:
            other["outcome"] = None  # the other run reads the pointer too: not again
            other["outcome"] = s3_run(s3_bucket, tmp_path, "other", analysis=False)

    monkeypatch.setattr(PointerOutput, "__post_init__", another_run_publishes_meanwhile)
    stale = s3_run(s3_bucket, tmp_path, "stale", analysis=False)
    assert other["outcome"].error is None, other["outcome"].error
    pointer_line = f"{s3_bucket.uri(POINTER)} changed after this run started: another run"
    assert stale.error is not None and stale.error.startswith(pointer_line), stale.error
    assert "\n" not in stale.error
    pointer, _ = published(s3_bucket)
    assert pointer["run_id"] == other["outcome"].record["run_id"]
    # refused before its warehouse committed the delivery
    assert read_tables(str(tmp_path / "stale.duckdb"))["city_report"].num_rows == 0


def test_the_conditional_write_refuses_a_writer_past_the_early_check(
    s3_bucket, tmp_path, monkeypatch
):
    # the pointer changes between the early check and the switch: S3 itself refuses (412)
    first = s3_run(s3_bucket, tmp_path, "first", analysis=False)
    assert first.error is None, first.error
    other: dict[str, Any] = {}

    def another_run_publishes_now(self: PointerOutput) -> None:
        if not other:  # the other run checks too: it publishes unhindered
            other["outcome"] = None
            other["outcome"] = s3_run(s3_bucket, tmp_path, "other", analysis=False)

    monkeypatch.setattr(PointerOutput, "check_current", another_run_publishes_now)
    stale = s3_run(s3_bucket, tmp_path, "stale", analysis=False)
    assert stale.error is not None and "changed after this run started" in stale.error
    pointer, _ = published(s3_bucket)
    assert pointer["run_id"] == other["outcome"].record["run_id"]
    assert stale.record == {} and stale.error.count("\n") == 0


def test_a_pointer_switched_after_the_early_check_is_refused_before_the_commit(
    s3_bucket, tmp_path, monkeypatch
):
    # two warehouses, one S3 output: another run publishes the date after this run's early
    # check; the check inside the warehouse transaction refuses it, so nothing is committed
    first = s3_run(s3_bucket, tmp_path, "first", analysis=False)
    assert first.error is None, first.error
    other: dict[str, Any] = {}
    check = PointerOutput.check_current

    def another_run_publishes_after_the_first_check(self: PointerOutput) -> None:
        check(self)
        if not other:  # the other run checks too: it publishes unhindered
            other["outcome"] = None
            other["outcome"] = s3_run(s3_bucket, tmp_path, "other", analysis=False)

    monkeypatch.setattr(PointerOutput, "check_current", another_run_publishes_after_the_first_check)
    stale = s3_run(s3_bucket, tmp_path, "stale", analysis=False)
    assert other["outcome"].error is None, other["outcome"].error
    assert stale.error is not None and "changed after this run started" in stale.error
    assert stale.code == 4
    pointer, _ = published(s3_bucket)
    assert pointer["run_id"] == other["outcome"].record["run_id"]
    tables = read_tables(str(tmp_path / "stale.duckdb"))
    assert {name: tables[name].num_rows for name in REPORTS} == {name: 0 for name in REPORTS}
    assert tables["pipeline_runs"].column("status").to_pylist() == ["failed"]


def test_a_run_failing_mid_publish_leaves_the_previous_delivery_visible(
    s3_bucket, tmp_path, monkeypatch
):
    first = s3_run(s3_bucket, tmp_path, "first", analysis=False)
    assert first.error is None, first.error
    before = published(s3_bucket)
    write_if = S3Files.write_if

    def killed_before_the_pointer(self: S3Files, path: str, data: bytes, etag: str | None):
        if path.endswith(POINTER):
            raise KeyboardInterrupt("killed after the parts and the manifest")
        return write_if(self, path, data, etag)

    monkeypatch.setattr(S3Files, "write_if", killed_before_the_pointer)
    with pytest.raises(KeyboardInterrupt):
        s3_run(s3_bucket, tmp_path, "killed", analysis=False)
    # its manifest was written, its parts too: only the pointer makes a delivery visible
    assert len(run_ids(s3_bucket)) == 2
    assert published(s3_bucket) == before


def test_a_run_killed_mid_publish_leaves_the_previous_delivery_and_the_next_tidies(
    s3_bucket, s3_endpoint, tmp_path
):
    # the command in a process of its own, SIGKILLed while it waits for its pointer's PUT
    db = str(tmp_path / "w.duckdb")
    args = ("--fact", str(SAMPLE), "--output", s3_bucket.uri("out"), "--db", db, "--run-date",
            RUN_DATE.isoformat(), "--no-analysis", "--keep-runs", "2")  # fmt: skip
    first = run_cli(*args, "--log-file", str(tmp_path / "first.log"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = published(s3_bucket)
    first_id = before[0]["run_id"]
    with fault_proxy(s3_endpoint) as proxy:
        proxy.plan = lambda verb, path, _: "stall" if verb == "PUT" and POINTER in path else None
        child = subprocess.Popen(
            [sys.executable, "-m", "healthanalytics", "run", *args, "--log-file",
             str(tmp_path / "killed.log")],
            cwd=tmp_path, env={**os.environ, "AWS_ENDPOINT_URL": proxy.endpoint},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert proxy.stalled.wait(300), "the run never sent its pointer"
            child.send_signal(signal.SIGKILL)
            assert child.wait(60) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(60)
    # the killed run wrote its parts and manifest: the pointer still names the first, whole
    (killed_id,) = run_ids(s3_bucket) - {first_id}
    assert "manifest.json" in {k.rsplit("/", 1)[-1] for k in s3_bucket.keys(f"{RUNS}{killed_id}/")}
    assert published(s3_bucket) == before
    delivery = read_delivery(s3_bucket.uri("out"), RUN_DATE, checksums=True)
    assert delivery is not None and delivery.run_id == first_id

    after = run_cli(*args, "--log-file", str(tmp_path / "after.log"), cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    pointer, _ = published(s3_bucket)
    assert pointer["run_id"] not in (first_id, killed_id)
    assert pointer["kept_runs"] == [pointer["run_id"], first_id]
    # the killed run's prefix, written before this switch, removed by the next run's sweep
    assert run_ids(s3_bucket) == {pointer["run_id"], first_id}
    # its warehouse rows had committed before the publish: recorded as the run that made them
    statuses = {r["run_id"]: r["status"] for r in read_tables(db)["pipeline_runs"].to_pylist()}
    assert statuses == {first_id: "success", killed_id: "success", pointer["run_id"]: "success"}


def test_a_pointer_write_failing_past_its_retries_leaves_the_previous_delivery(
    s3_bucket, s3_endpoint, tmp_path, monkeypatch
):
    first = s3_run(s3_bucket, tmp_path, "first", analysis=False)
    assert first.error is None, first.error
    before = published(s3_bucket)
    with fault_proxy(s3_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        # every PUT of the pointer answered 503 SlowDown, the rest passed on
        proxy.plan = lambda verb, path, _: "503" if verb == "PUT" and POINTER in path else None
        failed = s3_run(s3_bucket, tmp_path, "failed", analysis=False)
    assert failed.error is not None and "\n" not in failed.error
    assert failed.error.startswith(
        f"{s3_bucket.uri(POINTER)}: the S3 request failed 2 times (HTTP 503 SlowDown)"
    ), failed.error
    assert proxy.faults["botocore"] >= 2
    assert published(s3_bucket) == before


def test_runs_beyond_the_kept_number_are_removed(s3_bucket, tmp_path, monkeypatch):
    ids = []
    for index in range(3):
        outcome = s3_run(s3_bucket, tmp_path, f"run{index}", analysis=False, keep_runs=2)
        assert outcome.error is None, outcome.error
        ids.append(outcome.record["run_id"])
        if index == 0:  # a run stopped mid-publish leaves a prefix the next one removes
            monkeypatch.setattr(S3Files, "write_if", _refuse_pointer(S3Files.write_if))
            with pytest.raises(KeyboardInterrupt):
                s3_run(s3_bucket, tmp_path, "stopped", analysis=False, keep_runs=2)
            monkeypatch.undo()
            assert len(run_ids(s3_bucket)) == 2
    pointer, _ = published(s3_bucket)
    assert pointer["kept_runs"] == [ids[2], ids[1]]
    assert run_ids(s3_bucket) == {ids[2], ids[1]}
    # the run kept besides the current one is still complete (a reader may still be on it)
    manifest = json.loads(s3_bucket.get(f"{RUNS}{ids[1]}/manifest.json"))
    for entry in manifest["files"]:
        assert len(s3_bucket.get(f"{RUNS}{ids[1]}/{entry['key']}")) == entry["bytes"]


def _refuse_pointer(write_if):
    def refuse(self: S3Files, path: str, data: bytes, etag: str | None):
        if path.endswith(POINTER):
            raise KeyboardInterrupt("stopped before the pointer")
        return write_if(self, path, data, etag)

    return refuse


def test_other_output_schemes_and_missing_buckets_are_refused(s3_endpoint, tmp_path):
    gone = run_case(SAMPLE, output="s3://no-such-bucket/out", db=str(tmp_path / "a.duckdb"))
    assert gone.error is not None and gone.error.startswith(
        "--output s3://no-such-bucket/out: the bucket s3://no-such-bucket does not exist"
    ), gone.error
    other = run_case(SAMPLE, output="gs://bucket/out", db=str(tmp_path / "b.duckdb"))
    assert other.error is not None and other.error.startswith(
        "--output gs://bucket/out: the duckdb engine writes its outputs to a local folder or "
        "an s3:// prefix"
    ), other.error


def test_the_command_publishes_to_s3_keeping_the_runs_asked_for(s3_bucket, tmp_path):
    # the installed command, twice, with --keep-runs 1: only the published run stays
    args = ("--fact", str(SAMPLE), "--output", s3_bucket.uri("out"), "--db",
            str(tmp_path / "w.duckdb"), "--run-date", RUN_DATE.isoformat(), "--no-analysis",
            "--keep-runs", "1", "--log-file", str(tmp_path / "run.log"))  # fmt: skip
    for _ in range(2):
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    pointer, manifest = published(s3_bucket)
    assert pointer["kept_runs"] == [pointer["run_id"]]
    assert run_ids(s3_bucket) == {pointer["run_id"]}
    assert {entry["key"] for entry in manifest["files"]} >= {
        "quality_checks.json", "city_report/_SUCCESS", "prescriber_report/_SUCCESS"
    }  # fmt: skip
