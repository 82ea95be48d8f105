"""Readers of an S3 delivery (io/publish.py `read_delivery`) while runs publish: a reader that
follows the pointer never sees a partial delivery, on the real S3-compatible server (moto on
loopback, tests/s3_server.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from healthanalytics.io.publish import IncompleteDeliveryError, PointerOutput, read_delivery
from healthanalytics.io.s3 import S3Files, resolve_s3_settings
from tests.conftest import RUN_DATE
from tests.engines.test_duckdb_s3_output import POINTER, published, run_ids, s3_run


class Reader(threading.Thread):
    """Follows the date's pointer again and again until stopped, checking every file the
    manifest lists (bytes and SHA-256); records the run each read found, or its error."""

    def __init__(self, output: str) -> None:
        super().__init__(daemon=True)
        self.output, self.files = output, S3Files(resolve_s3_settings())
        self.seen: list[str] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.progress = threading.Condition()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                delivery = read_delivery(self.output, RUN_DATE, self.files, checksums=True)
                found = delivery.run_id if delivery else "none"
            except Exception as err:  # recorded, the test fails on it
                self.errors.append(err)
                found = "error"
            with self.progress:
                self.seen.append(found)
                self.progress.notify_all()

    def wait_for_reads(self, count: int) -> None:
        """Block until `count` more reads are done (the run waits, the reader reads)."""
        with self.progress:
            target = len(self.seen) + count
            assert self.progress.wait_for(lambda: len(self.seen) >= target, timeout=60)


def test_a_reader_following_the_pointer_never_sees_a_partial_delivery(
    s3_bucket, tmp_path, monkeypatch
):
    first = s3_run(s3_bucket, tmp_path, "first", analysis=False)
    assert first.error is None, first.error
    reader = Reader(s3_bucket.uri("out"))
    windows: dict[str, Any] = {}
    publish, write_if = PointerOutput.publish, S3Files.write_if

    def publish_after_reads(self: PointerOutput, rows: dict[str, int], brief: str = "") -> None:
        # the new run's parts are all written, its manifest not yet: readers keep reading
        windows["parts"] = len(run_ids(s3_bucket))  # a listing of runs/ shows the new run
        reader.wait_for_reads(3)
        publish(self, rows, brief)

    def pointer_after_reads(self: S3Files, path: str, data: bytes, etag: str | None) -> str:
        if path.endswith(POINTER):  # the manifest is written, the pointer not yet switched
            windows["manifest"] = True
            reader.wait_for_reads(3)
        return write_if(self, path, data, etag)

    monkeypatch.setattr(PointerOutput, "publish", publish_after_reads)
    monkeypatch.setattr(S3Files, "write_if", pointer_after_reads)
    reader.start()
    try:
        reader.wait_for_reads(1)
        second = s3_run(s3_bucket, tmp_path, "second", analysis=False)
        reader.wait_for_reads(3)
    finally:
        reader.stop.set()
        reader.join(timeout=60)
    assert second.error is None, second.error
    assert [str(e) for e in reader.errors] == []
    assert windows == {"parts": 2, "manifest": True}
    old, new = first.record["run_id"], second.record["run_id"]
    # every read found one whole delivery: the old one until the switch, then the new one
    assert set(reader.seen) == {old, new}
    switch = reader.seen.index(new)
    assert reader.seen[:switch] == [old] * switch and set(reader.seen[switch:]) == {new}
    assert switch >= 7  # the reads in both windows before the switch found the old delivery
    assert published(s3_bucket)[0]["run_id"] == new


def test_a_delivery_whose_listed_file_is_gone_or_changed_is_refused(s3_bucket, tmp_path):
    outcome = s3_run(s3_bucket, tmp_path, "run", analysis=False)
    assert outcome.error is None, outcome.error
    output = s3_bucket.uri("out")
    delivery = read_delivery(output, RUN_DATE)
    assert delivery is not None and delivery.run_id == outcome.record["run_id"]
    assert read_delivery(output, "2001-01-01") is None  # never published
    [part, *_] = delivery.paths("city_report")
    key = part.removeprefix(f"s3://{s3_bucket.name}/")
    data = s3_bucket.get(key)
    # the same size, other bytes: found by the checksums only
    s3_bucket.put(key, bytes(reversed(data)))
    assert read_delivery(output, RUN_DATE).run_id == delivery.run_id
    with pytest.raises(IncompleteDeliveryError, match="SHA-256"):
        read_delivery(output, RUN_DATE, checksums=True)
    s3_bucket.put(key, data + b"x")
    with pytest.raises(IncompleteDeliveryError, match=f"{len(data) + 1} bytes"):
        read_delivery(output, RUN_DATE)
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=key)
    with pytest.raises(IncompleteDeliveryError, match="but missing"):
        read_delivery(output, RUN_DATE)


def test_a_local_output_is_not_read_by_pointer(tmp_path):
    with pytest.raises(ValueError, match="s3:// outputs only"):
        read_delivery(str(tmp_path), RUN_DATE)
