"""The output place a run gets (io/publish.py), on an in-memory store with conditional writes;
the S3 behaviour end to end is in tests/engines/test_duckdb_s3_output.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

import pytest

from healthanalytics.io.files import LOCAL_FILES, FsspecFiles
from healthanalytics.io.publish import LocalOutput, PointerOutput, StalePublishError, open_output
from healthanalytics.io.s3 import ConditionalWriteError

DATE = dt.date(2026, 1, 15)


class MemoryStore(FsspecFiles):
    """memory:// with S3's conditional writes: an object's ETag is the MD5 of its bytes."""

    def read_tagged(self, path: str) -> tuple[bytes, str] | None:
        if not self.exists(path):
            return None
        with self.open(path) as source:
            data = source.read()
        return data, hashlib.md5(data).hexdigest()

    def write_if(self, path: str, data: bytes, etag: str | None) -> str:
        found = self.read_tagged(path)
        if (found[1] if found else None) != etag:
            raise ConditionalWriteError(f"{path} changed meanwhile")
        with self.create(path) as out:
            out.write(data)
        return hashlib.md5(data).hexdigest()

    def written_at(self, path: str, etag: str) -> dt.datetime | None:
        found = self.read_tagged(path)
        return self.stat(path).modified if found and found[1] == etag else None


@pytest.fixture
def store() -> tuple[MemoryStore, str]:
    return MemoryStore(), f"memory://out-{uuid.uuid4().hex[:8]}"


def written_run(store: MemoryStore, root: str, run_id: str, keep: int = 2) -> PointerOutput:
    place = open_output(root, store, DATE, run_id, keep)
    assert isinstance(place, PointerOutput)
    folder = place.report_folder("city_report")
    for name, data in (("part-00000.csv", b"a\n1\n"), ("_SUCCESS", b"")):
        with store.create(f"{folder.path}/{name}") as out:
            out.write(data)
    folder.publish()
    return place


def test_a_local_folder_is_published_by_rename(tmp_path):
    place = open_output(str(tmp_path), LOCAL_FILES, DATE, "r1", 2)
    assert isinstance(place, LocalOutput) and place.folder == str(tmp_path)


def test_the_manifest_lists_every_file_and_the_pointer_names_it(store):
    files, root = store
    written_run(files, root, "r1").publish({"city_report": 1})
    pointer = json.loads(files.read_tagged(f"{root}/deliveries/2026-01-15.json")[0])
    assert (pointer["run_id"], pointer["kept_runs"]) == ("r1", ["r1"])
    manifest = json.loads(files.read_tagged(f"{root}/{pointer['manifest']}")[0])
    assert manifest["files"] == [
        {"key": "city_report/_SUCCESS", "bytes": 0, "sha256": hashlib.sha256(b"").hexdigest()},
        {
            "key": "city_report/part-00000.csv",
            "bytes": len(b"a\n1\n"),
            "sha256": hashlib.sha256(b"a\n1\n").hexdigest(),
        },
    ]
    assert manifest["reports"] == {"city_report": {"rows": 1}}


def test_a_writer_that_started_before_another_publish_is_refused(store):
    files, root = store
    early = written_run(files, root, "early")  # reads no pointer
    written_run(files, root, "other").publish({"city_report": 1})
    with pytest.raises(StalePublishError, match="changed after this run started"):
        early.publish({"city_report": 1})
    assert json.loads(files.read_tagged(f"{root}/deliveries/2026-01-15.json")[0])["run_id"] == (
        "other"
    )


def test_a_retried_pointer_write_refused_by_its_own_first_try_succeeds(store, monkeypatch):
    # the first try went through but its answer was lost; the retry meets its own pointer
    files, root = store
    place = written_run(files, root, "r1")
    write_if = MemoryStore.write_if

    def lost_answer(self, path, data, etag):
        write_if(self, path, data, etag)
        if path.endswith("2026-01-15.json"):
            raise ConditionalWriteError(f"{path} changed meanwhile")
        return "etag"

    monkeypatch.setattr(MemoryStore, "write_if", lost_answer)
    place.publish({"city_report": 1})  # no error


def test_runs_beyond_the_kept_number_and_stopped_runs_are_removed(store):
    files, root = store
    written_run(files, root, "stopped")  # never published
    for run_id in ("r1", "r2", "r3"):
        written_run(files, root, run_id).publish({"city_report": 1})
    assert run_ids(files, root) == {"r3", "r2"}


def run_ids(files: MemoryStore, root: str) -> set[str]:
    """The run prefixes of the date in the store."""
    return {e.path.split("/runs/2026-01-15/")[1].split("/")[0] for e in files.list_files(root)
            if "/runs/" in e.path}  # fmt: skip


def test_the_sweep_leaves_a_run_that_started_after_the_switch(store, monkeypatch):
    # another warehouse's run reads the new pointer and writes its files before the publishing
    # run's sweep lists the prefixes: removed, that run would be refused (or, removed after
    # its manifest, publish a pointer to missing files)
    files, root = store
    written_run(files, root, "r1").publish({"city_report": 1})
    stale = written_run(files, root, "stale")  # read r1's pointer: doomed once r2 publishes
    r2 = written_run(files, root, "r2")
    late: list[PointerOutput] = []
    sweep = PointerOutput._remove_old_runs

    def another_run_starts_before_the_sweep(self: PointerOutput, *args: object) -> None:
        if self.run_id == "r2":
            late.append(written_run(files, root, "late"))  # reads r2's pointer
        sweep(self, *args)

    monkeypatch.setattr(PointerOutput, "_remove_old_runs", another_run_starts_before_the_sweep)
    r2.publish({"city_report": 1})
    # r1 is kept; the stale run's files predate the switch: removed; the late run's do not
    assert run_ids(files, root) == {"r1", "r2", "late"}
    late[0].publish({"city_report": 1})
    assert delivered(files, root) == "late"
    assert run_ids(files, root) == {"late", "r2"}
    # the stale run, its prefix gone, is refused: the late run's delivery stays
    with pytest.raises(StalePublishError, match="changed after this run started"):
        stale.publish({"city_report": 1})
    assert delivered(files, root) == "late"


def delivered(files: MemoryStore, root: str) -> str:
    """The run the date's pointer names, after checking every file its manifest lists is
    there with the listed bytes and SHA-256."""
    pointer = json.loads(files.read_tagged(f"{root}/deliveries/2026-01-15.json")[0])
    manifest = json.loads(files.read_tagged(f"{root}/{pointer['manifest']}")[0])
    folder = f"{root}/{pointer['manifest'].rsplit('/', 1)[0]}"
    assert manifest["files"]
    for entry in manifest["files"]:
        found = files.read_tagged(f"{folder}/{entry['key']}")
        assert found is not None, entry
        assert hashlib.sha256(found[0]).hexdigest() == entry["sha256"], entry
    return pointer["run_id"]


def test_a_sweep_after_the_pointer_moved_on_removes_nothing(store, monkeypatch):
    # another run publishes between this run's switch and its sweep: its prefix, older than
    # its own switch, is not in this run's kept list, and must stay (the pointer names it)
    files, root = store
    written_run(files, root, "r1").publish({"city_report": 1})
    r2 = written_run(files, root, "r2")
    sweep = PointerOutput._remove_old_runs

    def another_run_publishes_before_the_sweep(self: PointerOutput, *args: object) -> None:
        if self.run_id == "r2":
            written_run(files, root, "next").publish({"city_report": 1})  # reads r2's pointer
        sweep(self, *args)

    monkeypatch.setattr(PointerOutput, "_remove_old_runs", another_run_publishes_before_the_sweep)
    r2.publish({"city_report": 1})
    assert delivered(files, root) == "next"
    assert run_ids(files, root) == {"next", "r2"}
