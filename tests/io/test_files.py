"""The fsspec file access's output side: paths joined for folders and URIs alike, files created,
moved and removed (its input side is tested with input resolution, in test_inputs.py)."""

from __future__ import annotations

import pytest

from healthanalytics.io.files import FsspecFiles, join_path, split_path


@pytest.mark.parametrize(
    "folder,name,joined",
    [
        ("out", "city_report", "out/city_report"),  # a relative local folder
        ("/data/out/", "city_report", "/data/out/city_report"),  # a trailing slash
        ("viewfs://test/out", "city_report", "viewfs://test/out/city_report"),
        ("hdfs://namenode/", "city_report", "hdfs://namenode/city_report"),  # the root of a URI
    ],
)
def test_join_and_split_paths_and_uris(folder, name, joined):
    assert join_path(folder, name) == joined
    assert split_path(joined) == (folder.rstrip("/") or "/", name)


def test_split_keeps_a_uri_scheme_and_drops_a_trailing_slash():
    assert split_path("s3a://bucket/out/") == ("s3a://bucket", "out")
    assert split_path("report") == ("", "report")  # no folder: the working directory


def test_create_rename_remove(tmp_path):
    files = FsspecFiles()
    path = str(tmp_path / "new" / "deep" / "q.json")
    with files.create(path) as out:  # missing folders are made
        out.write(b"first")
    with files.create(path) as out:  # an existing file is replaced
        out.write(b"second")
    assert (tmp_path / "new" / "deep" / "q.json").read_bytes() == b"second"
    files.rename(str(tmp_path / "new"), str(tmp_path / "moved"))  # a folder with what it holds
    assert files.exists(str(tmp_path / "moved" / "deep" / "q.json"))
    assert not files.exists(str(tmp_path / "new"))
    files.remove(str(tmp_path / "moved"))
    files.remove(str(tmp_path / "moved"))  # nothing left to remove: no error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("local", [True, False], ids=["local", "memory"])
def test_replace_puts_a_file_over_another(tmp_path, local):
    files = FsspecFiles()
    folder = str(tmp_path) if local else f"memory://replace-{tmp_path.name}"
    old, new = join_path(folder, "q.json"), join_path(folder, ".q.json.tmp")
    for path, text in ((old, b"old"), (new, b"new")):
        with files.create(path) as out:
            out.write(text)
    files.replace(new, old)
    with files.open(old) as handle:
        assert handle.read() == b"new"
    assert [split_path(e.path)[1] for e in files.list_files(folder)] == ["q.json"]
    files.remove(folder)
