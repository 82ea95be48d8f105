"""Report folders: every format and compression round-trips; failures leave nothing behind."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from healthanalytics.io.files import LOCAL_FILES, FsspecFiles, join_path
from healthanalytics.io.report_files import (
    COMPRESSIONS,
    SUCCESS,
    ReportFileError,
    check_format,
    read_report_files,
    remove_stale_staging,
    staged_folder,
    write_report_files,
)

TABLE = pa.table(
    {
        "presc_id": pa.array([1003000126, 2999999999, 1518060555], pa.int64()),
        "city": ["ISLAMORADA, VILLAGE OF ISLANDS", 'SAY "HI"', None],
        "cost": [1 / 3, None, 1e-12],
        "delivery_date": pa.array([dt.date(2026, 1, 15)] * 3, pa.date32()),
    }
)
CASES = [(fmt, comp) for fmt, comps in COMPRESSIONS.items() for comp in comps]


def as_rows(table: pa.Table) -> list[dict]:
    rows = table.to_pylist()
    for row in rows:  # JSON and CSV carry dates as text
        row["delivery_date"] = str(row["delivery_date"])
    return rows


@pytest.mark.parametrize(("fmt", "compression"), CASES)
@pytest.mark.parametrize("files", [1, 2])
def test_round_trip(tmp_path, fmt, compression, files):
    dest = tmp_path / "report"
    parts = write_report_files(TABLE, dest, fmt, compression, files)
    assert sorted(p.name for p in dest.iterdir()) == sorted([*(p.name for p in parts), SUCCESS])
    assert len(parts) == files
    assert as_rows(read_report_files(dest)) == as_rows(TABLE)


def test_bzip2_json_lines_is_the_brief_layout(tmp_path):
    import bz2
    import json

    (part,) = write_report_files(TABLE, tmp_path / "city", "json", "bzip2", 1)
    assert part.name == "part-00000.json.bz2"
    lines = bz2.decompress(part.read_bytes()).decode().splitlines()
    assert [json.loads(line)["city"] for line in lines] == TABLE.column("city").to_pylist()


def test_rewrite_replaces_the_folder(tmp_path):
    dest = tmp_path / "report"
    write_report_files(TABLE, dest, "parquet", "snappy", 3)
    write_report_files(TABLE.slice(0, 1), dest, "orc", "snappy", 1)
    assert sorted(p.name for p in dest.iterdir()) == ["_SUCCESS", "part-00000.orc"]
    assert read_report_files(dest).num_rows == 1
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_failed_write_leaves_old_report_and_no_temporary(tmp_path):
    dest = tmp_path / "report"
    write_report_files(TABLE, dest, "csv", None, 1)
    bad = pa.table({"x": pa.array([{"a": 1}])})  # nested rows cannot be written as CSV
    with pytest.raises(pa.ArrowException):
        write_report_files(bad, dest, "csv", None, 1)
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    assert as_rows(read_report_files(dest)) == as_rows(TABLE)


def test_failed_first_write_leaves_nothing(tmp_path):
    bad = pa.table({"x": pa.array([{"a": 1}])})
    with pytest.raises(pa.ArrowException):
        write_report_files(bad, tmp_path / "report", "csv", None, 1)
    assert list(tmp_path.iterdir()) == []


def _fill(folder: str, names: list[str]) -> None:
    for name in names:
        with LOCAL_FILES.create(join_path(folder, name)) as out:
            out.write(name.encode())


def _names(folder: str) -> list[str]:
    return sorted(entry.path.removeprefix(f"{folder}/") for entry in LOCAL_FILES.list_files(folder))


def test_staged_folder_replaces_a_folder_reached_by_uri():
    # memory:// stands for any file system a file access reaches by URI
    root = f"memory:///reports-{uuid.uuid4().hex}"
    dest = join_path(root, "city_report")
    for parts in (["part-0", "part-1"], ["part-9"]):
        with staged_folder(dest, LOCAL_FILES) as staging:
            assert staging.startswith(f"{root}/.city_report.tmp-")
            _fill(staging, [*parts, SUCCESS])
    assert _names(root) == ["city_report/_SUCCESS", "city_report/part-9"]


@pytest.mark.parametrize(
    "block,error",
    [
        (lambda staging: _fill(staging, ["part-0"]), ReportFileError),  # no _SUCCESS marker
        (lambda staging: 1 / 0, ZeroDivisionError),  # the writer failed
    ],
)
def test_staged_folder_keeps_the_old_folder_when_the_block_fails(block, error):
    root = f"memory:///reports-{uuid.uuid4().hex}"
    _fill(join_path(root, "city_report"), ["part-old", SUCCESS])
    with pytest.raises(error), staged_folder(join_path(root, "city_report")) as staging:
        _fill(staging, ["part-new"])
        block(staging)
    assert _names(root) == ["city_report/_SUCCESS", "city_report/part-old"]


class _MoveFails(FsspecFiles):
    """Moves the old report aside, then fails to move the new one in after copying a part,
    as an object store's copy-and-delete rename can."""

    def rename(self, source: str, target: str) -> None:
        if ".tmp-" in source:
            _fill(target, ["part-half"])
            raise OSError("connection reset")
        super().rename(source, target)


def test_staged_folder_puts_the_old_folder_back_when_the_move_fails():
    root = f"memory:///reports-{uuid.uuid4().hex}"
    _fill(join_path(root, "city_report"), ["part-old", SUCCESS])
    dest = join_path(root, "city_report")
    with pytest.raises(OSError, match="reset"), staged_folder(dest, _MoveFails()) as staging:
        _fill(staging, ["part-new", SUCCESS])
    assert _names(root) == ["city_report/_SUCCESS", "city_report/part-old"]


@pytest.mark.parametrize(
    ("fmt", "compression", "message"),
    [("xml", None, "unknown report format"), ("json", "snappy", "cannot use 'snappy'")],
)
def test_unsupported_choices_are_refused(fmt, compression, message):
    with pytest.raises(ValueError, match=message):
        check_format(fmt, compression)


def _folder(path, *names: str) -> None:
    path.mkdir(parents=True)
    for name in names:
        (path / name).write_text(name)


def _tree(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_stale_staging_of_stopped_runs_is_removed(tmp_path):
    _folder(tmp_path / "city_report", "part-00000.json.bz2", SUCCESS)
    _folder(tmp_path / ".city_report.tmp-0123abcd", "part-00000.json.bz2")  # writing
    _folder(tmp_path / ".prescriber_report.tmp-89abcdef", "part-00000.orc", SUCCESS)  # loading
    _folder(tmp_path / "..city_report.tmp-0123abcd.tmp-00ff00ff", "part-00000.json.bz2")  # nested
    (tmp_path / ".quality_checks.json.tmp-deadbeef").write_text("[")  # half-written checks
    (tmp_path / ".quality_checks.json.tmp").write_text("[")  # as earlier releases named it
    (tmp_path / "quality_checks.json").write_text("[]")
    (tmp_path / ".notes.tmp").write_text("a user's file")  # not a name our runs make
    (tmp_path / "report.tmp-0123abcd").write_text("not hidden")
    removed = remove_stale_staging(str(tmp_path))
    assert sorted(removed) == [
        "removed ..city_report.tmp-0123abcd.tmp-00ff00ff",
        "removed .city_report.tmp-0123abcd",
        "removed .prescriber_report.tmp-89abcdef",
        "removed .quality_checks.json.tmp",
        "removed .quality_checks.json.tmp-deadbeef",
    ]
    assert _tree(tmp_path) == [
        ".notes.tmp", "city_report/_SUCCESS", "city_report/part-00000.json.bz2",
        "quality_checks.json", "report.tmp-0123abcd",
    ]  # fmt: skip


def test_a_move_cut_short_is_finished_or_undone(tmp_path):
    # stopped between its two moves, after its load committed: the staged report moves in
    _folder(tmp_path / ".city_report.old-0123abcd", "part-old", SUCCESS)
    _folder(tmp_path / ".city_report.tmp-0123abcd", "part-new", SUCCESS)
    # a set-aside report without its complete staged successor is put back
    _folder(tmp_path / ".prescriber_report.old-89abcdef", "part-old", SUCCESS)
    _folder(tmp_path / ".prescriber_report.tmp-89abcdef", "part-new")
    # a set-aside report whose replacement is in place is only a leftover
    _folder(tmp_path / "other", "part-new", SUCCESS)
    _folder(tmp_path / ".other.old-00000000", "part-old", SUCCESS)
    remove_stale_staging(str(tmp_path))
    assert _tree(tmp_path) == [
        "city_report/_SUCCESS", "city_report/part-new", "other/_SUCCESS", "other/part-new",
        "prescriber_report/_SUCCESS", "prescriber_report/part-old",
    ]  # fmt: skip


def test_staging_names_are_what_the_sweep_recognises(tmp_path):
    # the names staged_folder makes are the names the sweep removes
    with pytest.raises(ReportFileError), staged_folder(str(tmp_path / "city_report")) as staging:
        _folder(Path(staging), "part-0")
        assert remove_stale_staging(str(tmp_path)) == [f"removed {Path(staging).name}"]
    assert list(tmp_path.iterdir()) == []
