"""Finding an input's files through a file access (fsspec here; Hadoop in tests/engines):
which files a folder holds, their sizes, schemes kept, and the one-line errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from healthanalytics.io.files import FileEntry, FsspecFiles
from healthanalytics.io.inputs import InputError, InputFiles, read_header, resolve_input

PART_0 = gzip.compress(b"a,b\n1,2\n")
PART_1 = gzip.compress(b"a,b\n3,4\n")


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


class _Refusing(FsspecFiles):
    """Lists like fsspec but may not open anything, as a file system refusing this user."""

    def open(self, path: str):
        raise PermissionError(f"Permission denied: user=analyst, access=READ, path={path}")


def test_folder_parts_sorted_at_any_depth_without_markers_or_empty_files(tmp_path):
    fact = _folder(
        tmp_path / "fact",
        {
            "part-1.csv.gz": PART_1,
            "sub/part-0.csv.gz": PART_0,  # nested part files count
            "_SUCCESS": b"",  # a writer's marker
            ".part-1.csv.gz.crc": b"checksum",  # a hidden file
            "part-2.csv.gz": b"",  # an empty part
        },
    )
    assert resolve_input(str(fact), "fact") == InputFiles(
        str(fact),
        (str(fact / "part-1.csv.gz"), str(fact / "sub" / "part-0.csv.gz")),
        "csv",
        "gzip",
        len(PART_0) + len(PART_1),
    )


def test_uri_input_keeps_its_scheme(tmp_path):
    # engines read the paths as listed: a file:// folder gives file:// parts
    fact = _folder(tmp_path / "fact", {"part-0.csv.gz": PART_0})
    found = resolve_input(fact.as_uri(), "fact")
    assert found.paths == ((fact / "part-0.csv.gz").as_uri(),)
    assert read_header(found) == ("a", "b")


def test_file_access_stat_list_open(tmp_path):
    fact = _folder(tmp_path / "fact", {"p.csv": b"a,b\n1,2\n", "sub/q.csv": b"a\n"})
    files = FsspecFiles()
    assert files.stat(str(fact)).is_dir
    assert files.stat(str(fact / "p.csv")) == FileEntry(str(fact / "p.csv"), 8)
    assert sorted(files.list_files(str(fact)), key=lambda entry: entry.path) == [
        FileEntry(str(fact / "p.csv"), 8),
        FileEntry(str(fact / "sub" / "q.csv"), 2),
    ]
    with files.open(str(fact / "p.csv")) as handle:
        handle.seek(-4, 2)  # seekable from the end, as Parquet footers are read
        assert handle.read() == b"1,2\n"


def test_missing_input(tmp_path):
    with pytest.raises(InputError) as caught:
        resolve_input(str(tmp_path / "nope.csv"), "city")
    assert str(caught.value) == (
        f"city file not found: {tmp_path / 'nope.csv'} — check the path or pass --city."
    )


@pytest.mark.parametrize("files", [{}, {"_SUCCESS": b"", "part-0.csv": b""}])
def test_folder_without_data_files(tmp_path, files):
    # an empty folder; a folder holding only a marker and an empty part
    fact = _folder(tmp_path / "fact", files)
    fact.mkdir(exist_ok=True)
    with pytest.raises(InputError) as caught:
        resolve_input(str(fact), "fact")
    assert str(caught.value) == (
        f"fact folder {fact} holds no data files (empty files and names starting with _ or . "
        "are skipped): point --fact at the data or a folder of its part files."
    )


def test_folder_mixing_formats(tmp_path):
    fact = _folder(tmp_path / "fact", {"a.csv.gz": PART_0, "b.csv": b"a,b\n"})
    with pytest.raises(InputError) as caught:
        resolve_input(str(fact), "fact")
    assert str(caught.value) == (
        f"fact folder {fact} mixes file formats: [\"('csv', 'gzip')\", \"('csv', None)\"]."
    )


def test_unreadable_input_says_permission_denied(tmp_path):
    fact = _folder(tmp_path, {"fact.csv": b"a,b\n"}) / "fact.csv"
    with pytest.raises(InputError) as caught:
        resolve_input(str(fact), "fact", _Refusing())
    assert str(caught.value) == (
        f"fact input {fact} is not readable: permission denied (Permission denied: "
        f"user=analyst, access=READ, path={fact}); grant read access to the user running "
        "the pipeline."
    )


def test_scheme_fsspec_does_not_know():
    # viewfs:// is Hadoop's: only the Spark engine reads it
    with pytest.raises(InputError) as caught:
        resolve_input("viewfs://cluster/data/fact.csv", "fact")
    assert str(caught.value) == (
        "fact input viewfs://cluster/data/fact.csv cannot be read: no file system here reads "
        "viewfs:// URIs (Protocol not known: viewfs); the Spark engine reads any scheme its "
        "cluster's Hadoop configuration supports"
    )


@pytest.mark.parametrize(
    ("second", "column"),
    [
        (b"b,a\n4,3\n", "column 1 ('b' instead of 'a')"),  # columns in another order
        (b"3,4\n", "column 1 ('3' instead of 'a')"),  # no header row: its first row is data
    ],
)
def test_every_part_needs_the_first_parts_header(tmp_path, second, column):
    # the engines read every part by position, skipping its first line
    fact = _folder(tmp_path / "fact", {"part-0.csv": b"a,b\n1,2\n", "part-1.csv": second})
    with pytest.raises(InputError) as caught:
        read_header(resolve_input(str(fact), "fact"))
    assert str(caught.value) == (
        f"{fact / 'part-1.csv'}: its header differs from that of {fact / 'part-0.csv'} at "
        f"{column}; every part file must start with the same header row, its columns in the "
        "same order."
    )
