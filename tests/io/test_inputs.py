"""Finding an input's files through a file access (fsspec here; Hadoop in tests/engines):
which files a folder holds, their sizes, schemes kept, and the one-line errors."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from healthanalytics.io.files import FileEntry, FsspecFiles
from healthanalytics.io.inputs import (
    CsvDialect,
    InputError,
    InputFiles,
    open_cities,
    open_fact,
    read_header,
    resolve_input,
)
from healthanalytics.layouts import LayoutError
from tests.conftest import tar_archive

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


@pytest.mark.parametrize(
    ("parts", "mixed", "remedy"),
    [
        # plain and gzip CSV: a part of each kind named, in the order the parts are read
        (
            {"part1.csv": b"a,b\n1,2\n", "part2.csv.gz": gzip.compress(b"a,b\n3,4\n")},
            "plain CSV (part1.csv) and gzip-compressed CSV (part2.csv.gz)",
            "compress or decompress the parts alike",
        ),
        # three kinds, the Parquet part named by its first bytes whatever its name
        (
            {
                "a.csv.gz": gzip.compress(b"a,b\n1,2\n"),
                "b.csv": b"a,b\n3,4\n",
                "c.csv": b"PAR1",
                "d.csv": b"a,b\n5,6\n",
            },
            "gzip-compressed CSV (a.csv.gz), plain CSV (b.csv) and Parquet (c.csv)",
            "convert the parts to one format",
        ),
    ],
    ids=["csv-and-gzip", "three-kinds"],
)
def test_folder_mixing_formats(tmp_path, parts, mixed, remedy):
    fact = _folder(tmp_path / "fact", parts)
    with pytest.raises(InputError) as caught:
        resolve_input(str(fact), "fact")
    assert str(caught.value) == (
        f"fact folder {fact} mixes {mixed} parts: every part must be of one format and "
        f"compression; {remedy}, or give them separate folders."
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
    # viewfs:// is Hadoop's: fsspec does not read it (the engines say what does)
    with pytest.raises(InputError) as caught:
        resolve_input("viewfs://cluster/data/fact.csv", "fact")
    assert str(caught.value) == (
        "fact input viewfs://cluster/data/fact.csv cannot be read: no file system here reads "
        "viewfs:// URIs (Protocol not known: viewfs)"
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


# --- what the header tells: text, delimiter, names, data ----------------------------------------

HEADER = b"npi,nppes_provider_last_org_name,nppes_provider_first_name,nppes_provider_city,"
HEADER += b"nppes_provider_state,specialty_description,drug_name,generic_name,"
HEADER += b"total_claim_count,total_day_supply,total_drug_cost,bene_count\n"
ROW = b"1234567893,SMITH,ANN,AUSTIN,TX,Family Practice,X,X,12,30,9.5,\n"


def _header_of(tmp_path: Path, data: bytes, **dialect) -> tuple[str, ...]:
    fact = _folder(tmp_path, {"fact.csv": data}) / "fact.csv"
    return read_header(resolve_input(str(fact), "fact", dialect=CsvDialect(**dialect)))


def _refusal(call, *args, **kwargs) -> str:
    with pytest.raises(InputError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b'\xef\xbb\xbf"a","b c"\n1,2\n', ("a", "b c")),  # a byte-order mark before quotes
        (b"\xef\xbb\xbfa,b\n1,2\n", ("a", "b")),  # before a plain name
        (b" a ,b\r\n1,2\r\n", ("a", "b")),  # blanks around names, CRLF
        (b"a,b\n\n\n1,2\n", ("a", "b")),  # blank lines before the data
    ],
)
def test_header_names(tmp_path, data, names):
    assert _header_of(tmp_path, data) == names


def test_header_in_another_declared_encoding(tmp_path):
    # a Latin-1 name is read as declared
    assert _header_of(tmp_path, b"r\xe9f,b\n1,2\n", encoding="iso8859-1") == ("réf", "b")


@pytest.mark.parametrize(
    ("data", "dialect", "message"),
    [
        (b"a,b\n", {}, "{f} has a header but no data rows"),  # header alone
        (b"a,b", {}, "{f} has a header but no data rows"),  # no line break at all
        (b"a,b\n \t\r\n\n", {}, "{f} has a header but no data rows"),  # blank lines only
        (b"a,b,A\n1,2,3\n", {}, "{f}: its header names the column 'A' twice (columns 1 and 3: "
                                "'a', 'A'); rename or remove one of them."),
        (b"a,,b,\n1,2,3,4\n", {}, "{f}: its header has more than one column without a name "
                                  "(columns 2 and 4); name them or remove them."),
        (b"\xff\xfea\x00", {}, "{f} is UTF-16 text (byte-order mark FF FE): save it as UTF-8 "
                               "(Excel: Save As, CSV UTF-8) or convert it (iconv -f UTF-16 -t "
                               "UTF-8), then run again."),
        (b"a,b\x00c\n1,2\n", {}, "{f}: its header holds NUL bytes: it is not a text CSV file."),
        (b"r\xe9f,b\n1,2\n", {}, "{f}: its header is not valid UTF-8 text (byte 0xe9 at byte 2); "
                                 "pass --encoding latin-1 or --encoding cp1252 if it was written "
                                 "so, or save it as UTF-8."),
        (b"a\x81,b\n1,2\n", {"encoding": "cp1252"},
         "{f}: its header is not valid Windows-1252 text (byte 0x81 at byte 2); pass the encoding "
         "it was written in with --encoding, or save it as UTF-8."),
        (b"\xef\xbb\xbfa,b\n1,2\n", {"encoding": "iso8859-1"},
         "{f} starts with a UTF-8 byte-order mark, so it is UTF-8 text, not Latin-1: drop "
         "--encoding (UTF-8 is the default)."),
    ],
)  # fmt: skip
def test_header_refusals(tmp_path, data, dialect, message):
    fact = tmp_path / "fact.csv"
    assert _refusal(_header_of, tmp_path, data, **dialect).startswith(message.format(f=fact))


def test_city_header_not_utf8_asks_for_utf8(tmp_path):
    # the city dimension has no --encoding: it must be UTF-8
    city = _folder(tmp_path, {"c.csv": b"cit\xe9,b\n1,2\n"}) / "c.csv"
    assert _refusal(read_header, resolve_input(str(city), "city"), role="city") == (
        f"{city}: its header is not valid UTF-8 text (byte 0xe9 at byte 4); save it as UTF-8."
    )


def test_one_part_with_data_is_enough(tmp_path):
    # a writer's empty partition beside a full one
    fact = _folder(tmp_path / "fact", {"part-0.csv": b"a,b\n", "part-1.csv": b"a,b\n1,2\n"})
    assert read_header(resolve_input(str(fact), "fact")) == ("a", "b")


def test_parquet_rows_are_told_from_the_footer(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    empty, full = tmp_path / "empty.parquet", tmp_path / "full.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.string())}), empty)
    pq.write_table(pa.table({"a": ["1"]}), full)
    assert read_header(resolve_input(str(full), "fact")) == ("a",)
    assert _refusal(read_header, resolve_input(str(empty), "fact")).startswith(
        f"{empty} has columns but no rows: there is nothing to load"
    )


@pytest.mark.parametrize(
    ("delimiter", "declared", "advice"),
    [
        (b";", ",", "semicolon-delimited, not comma-delimited: pass --delimiter ';'."),
        (b"\t", ",", "tab-delimited, not comma-delimited: pass --delimiter tab."),
        (b"|", ",", "pipe-delimited, not comma-delimited: pass --delimiter '|'."),
        (b",", "\t", "comma-delimited, not tab-delimited: pass --delimiter ','."),
    ],
)
def test_fact_delimiter_found_when_the_declared_one_fits_no_layout(
    tmp_path, delimiter, declared, advice
):
    fact = _folder(tmp_path, {"f.txt": (HEADER + ROW).replace(b",", delimiter)}) / "f.txt"
    message = _refusal(open_fact, str(fact), dialect=CsvDialect(delimiter=declared))
    assert message == f"{fact} is {advice}"


def test_tab_delimited_fact_with_delimiter_tab(tmp_path):
    fact = _folder(tmp_path, {"f.txt": (HEADER + ROW).replace(b",", b"\t")}) / "f.txt"
    found = open_fact(str(fact), dialect=CsvDialect(delimiter="\t"))
    assert (found.layout.name, found.header[:2]) == (
        "course",
        ("npi", "nppes_provider_last_org_name"),
    )


def test_header_of_no_layout_on_any_delimiter_keeps_the_layout_message(tmp_path):
    # splitting on ; gives no layout either: the missing columns are the news
    fact = _folder(tmp_path, {"f.csv": b"npi;drug_name\n1;X\n"}) / "f.csv"
    with pytest.raises(LayoutError) as caught:
        open_fact(str(fact))
    assert str(caught.value).startswith(
        f"{fact}: header matches neither the course nor the CMS layout"
    )


def test_city_delimiter_found(tmp_path):
    header = b"city;state_id;state_name;county_name;population;zips\n"
    city = _folder(tmp_path, {"c.csv": header + b"Austin;TX;Texas;Travis;1;78701\n"}) / "c.csv"
    assert _refusal(open_cities, str(city)) == (
        f"{city} is semicolon-delimited: the city dimension is read as comma-delimited; save it "
        "as a comma-separated CSV."
    )


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (_zip({"f.csv": b"a,b\n1,2\n"}), "zip"),
        (_zip({"xl/workbook.xml": b"<workbook/>"}), "workbook"),  # .xlsx, whatever its name
        (bytes.fromhex("d0cf11e0a1b11ae1") + bytes(8), "workbook"),  # .xls
        (b"PK\x03\x04 but not a readable archive", "zip"),
    ],
)
def test_archives_and_workbooks_are_named(tmp_path, data, what):
    fact = _folder(tmp_path, {"f.dat": data}) / "f.dat"
    expected = {
        "zip": f"{fact} is a zip archive: unzip it and point --city at the CSV or Parquet file "
        "inside.",
        "workbook": f"{fact} is an Excel workbook, not a CSV file: export the sheet as CSV "
        "(Excel: Save As, CSV UTF-8) and point --city at that file.",
    }
    assert _refusal(resolve_input, str(fact), "city") == expected[what]


@pytest.mark.parametrize(
    ("magic", "what", "remedy"),
    [
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "extract it"),
        (b"Rar!\x1a\x07\x00", "a RAR archive", "extract it"),
        (b"\xfd7zXZ\x00", "xz-compressed", "decompress it (xz -d) or compress it with gzip"),
        (b"\x04\x22\x4d\x18", "LZ4-compressed", "decompress it (lz4 -d) or compress it with gzip"),
    ],
)
def test_other_archives_and_compressions_are_named(tmp_path, magic, what, remedy):
    fact = _folder(tmp_path, {"f.csv": magic + bytes(100)}) / "f.csv"
    assert _refusal(resolve_input, str(fact), "fact") == (
        f"{fact} is {what}, which is not read: {remedy}, and point --fact at the CSV or Parquet "
        "file."
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("f.tar", tar_archive(HEADER + ROW)),
        ("f.tar.gz", gzip.compress(tar_archive(HEADER + ROW))),
    ],
)
def test_tar_archive_is_named(tmp_path, name, data):
    # told from the (decompressed) header block
    fact = _folder(tmp_path, {name: data}) / name
    assert _refusal(read_header, resolve_input(str(fact), "fact")) == (
        f"{fact} is a tar archive: extract it (tar -xf) and point --fact at the CSV or Parquet "
        "file inside."
    )


@pytest.mark.parametrize(
    "page", [b"<!DOCTYPE html>\n<html><body>Not Found</body></html>\n", b"  <HTML>\n<p>x\n"]
)
def test_web_page_is_named(tmp_path, page):
    # what a failed download saves
    assert _refusal(_header_of, tmp_path, page) == (
        f"{tmp_path / 'fact.csv'} is a web page (HTML), not CSV: the download most likely "
        "failed; download the file again."
    )


def test_parquet_without_its_footer_is_truncated(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.table({"a": ["1"] * 1000}), whole)
    fact = _folder(tmp_path, {"f.parquet": whole.read_bytes()[:-100]}) / "f.parquet"
    assert _refusal(read_header, resolve_input(str(fact), "fact")).startswith(
        f"{fact} is truncated or corrupt: it starts as a Parquet file but its footer cannot be "
        "read ("
    )


def test_cut_compressed_header_says_truncated(tmp_path):
    # cut inside the header reader's first chunk: the same line as a cut met later
    fact = _folder(tmp_path, {"f.csv.gz": gzip.compress(HEADER + ROW * 50)[:40]}) / "f.csv.gz"
    assert _refusal(read_header, resolve_input(str(fact), "fact")) == (
        f"{fact} is truncated or corrupt: its gzip data ends before the end of the compressed "
        "stream (an interrupted download or copy?); download or copy the file again"
    )


def test_header_with_two_spellings_of_one_column_is_refused(tmp_path):
    # which of the two holds the experience is not for the reader to guess
    header = HEADER.rstrip(b"\n") + b",year_exp,Years_Of_Exp\n"
    fact = _folder(tmp_path, {"f.csv": header + ROW.rstrip(b"\n") + b",3,4\n"}) / "f.csv"
    with pytest.raises(LayoutError) as caught:
        open_fact(str(fact))
    assert str(caught.value) == (
        f"{fact}: its header names the years_of_exp column twice, as 'Years_Of_Exp' and "
        "'year_exp'; keep one of them."
    )
