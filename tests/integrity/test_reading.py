"""Reading: what is checked about the input files before and while the engines read them.

A compressed input cut short or corrupt, a header without data rows, another delimiter, UTF-16
text, an archive or a workbook, a column named twice: each stops the run with one line naming
the file and the real cause, on both engines, and an earlier delivery stays as it was. A
tab-delimited file (with --delimiter tab) and a UTF-8 byte-order mark before a quoted header
give the same tables as the plain comma file.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import random
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from healthanalytics.contracts import DELIVERY_TABLES
from tests.conftest import tar_archive
from tests.integrity.conftest import CITIES, SAMPLE, Outcome

SAMPLE_BYTES = SAMPLE.read_bytes()
HEADER, *LINES = SAMPLE_BYTES.decode().splitlines(keepends=True)


def noisy(copies: int) -> bytes:
    """The sample's lines `copies` times, each with a random extra column (ignored by the
    run) so that compressed it still spans many chunks: the header reader's first chunk holds
    only its start, and a fault in the middle is met by the engine and the verification."""
    noise = random.Random(12)
    lines = [line.rstrip("\n") + f",{noise.randbytes(24).hex()}\n" for line in LINES * copies]
    return (HEADER.rstrip("\n") + ",noise\n" + "".join(lines)).encode()


BIG = noisy(120)  # about 2.4 MB; 0.4 MB compressed
TRUNCATED = (
    "{path} is truncated or corrupt: its {kind} data ends before the end of the compressed "
    "stream (an interrupted download or copy?); download or copy the file again"
)
NO_ROWS = (
    "{path} has a header but no data rows: there is nothing to load; check the export or "
    "download that made it."
)


# The plain input that an odd one is compared with, and an earlier delivery that a refused run
# must leave, are run on DuckDB whatever the engine under test: on Spark the comparison is then
# one of engine parity too, and a Spark run costs seconds.


def delivered(outcome: Outcome) -> dict[str, list[dict[str, Any]]]:
    """Every delivery table's rows (all dates), in a stable order."""
    return {name: outcome.rows(name, date=None) for name in DELIVERY_TABLES}


def statuses(outcome: Outcome) -> list[str]:
    runs = sorted(outcome.tables["pipeline_runs"].to_pylist(), key=lambda r: r["started_at"])
    return [run["status"] for run in runs]


def refused(run, fact: Path, engine: str, **settings: Any) -> str:
    """The one-line error of a run on a new warehouse, which must then hold no delivery."""
    outcome = run(fact, engine=engine, **settings)
    assert outcome.error is not None
    assert all(not rows for rows in delivered(outcome).values())
    assert statuses(outcome) == ["failed"]
    return outcome.error


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- compressed streams, cut short or damaged --------------------------------------------------


def gzip_cut_at_a_line_end(data: bytes) -> bytes:
    """A gzip stream flushed after the first half of the lines and cut there: what is left
    decompresses to whole lines, and no end marker follows (today's silent short read)."""
    lines = data.splitlines(keepends=True)
    squeeze = zlib.compressobj(6, zlib.DEFLATED, 31)
    head = b"".join(lines[: len(lines) // 2])
    return squeeze.compress(head) + squeeze.flush(zlib.Z_SYNC_FLUSH)


def cut(blob: bytes) -> bytes:
    """The first 60% of the bytes: an interrupted download."""
    return blob[: len(blob) * 6 // 10]


def damaged(blob: bytes) -> bytes:
    """32 bytes in the middle inverted: a bad block on the disk or in transfer."""
    middle = len(blob) // 2
    return blob[:middle] + bytes(b ^ 0xFF for b in blob[middle : middle + 32]) + blob[middle + 32 :]


def zstd(data: bytes) -> bytes:
    return pa.compress(data, "zstd", asbytes=True)


def zstd_bad_block(frame: bytes) -> bytes:
    """The frame with its middle block's type set to the reserved value 3 (pyarrow writes no
    checksum, so only damage that breaks decoding can be seen)."""
    descriptor = frame[4]
    at = 5 + (0 if descriptor & 0x20 else 1) + (0, 1, 2, 4)[descriptor & 3]
    at += (4 if descriptor & 0x20 else 0, 2, 4, 8)[descriptor >> 6]
    blocks = []
    while True:
        header = int.from_bytes(frame[at : at + 3], "little")
        blocks.append(at)
        size = 1 if (header >> 1) & 3 == 1 else header >> 3  # an RLE block holds one byte
        at += 3 + size
        if header & 1:
            break
    middle = blocks[len(blocks) // 2]
    return frame[:middle] + bytes([frame[middle] | 0x06]) + frame[middle + 1 :]


COMPRESSED_FAULTS = {
    # name: (file name, bytes, the error with {path})
    "gzip cut at a line end": (
        "fact.csv.gz",
        gzip_cut_at_a_line_end(BIG),
        TRUNCATED.format(path="{path}", kind="gzip"),
    ),
    "gzip cut": (
        "fact.csv.gz",
        cut(gzip.compress(BIG)),
        TRUNCATED.format(path="{path}", kind="gzip"),
    ),
    "gzip damaged": (
        "fact.csv.gz",
        damaged(gzip.compress(BIG)),
        "{path} is corrupt: its gzip data cannot be decompressed (zlib inflate failed: "
        "incorrect data check); download or copy the file again",
    ),
    "gzip members, the second cut": (
        "fact.csv.gz",
        gzip.compress(BIG[: len(BIG) // 2]) + cut(gzip.compress(BIG[len(BIG) // 2 :])),
        TRUNCATED.format(path="{path}", kind="gzip"),
    ),
    "bzip2 cut": (
        "fact.csv.bz2",
        cut(bz2.compress(BIG)),
        TRUNCATED.format(path="{path}", kind="bzip2"),
    ),
    "bzip2 damaged": (
        "fact.csv.bz2",
        damaged(bz2.compress(BIG)),
        "{path} is corrupt: its bzip2 data cannot be decompressed (bz2 decompress failed: "
        "invalid bz2 data); download or copy the file again",
    ),
    "zstd cut": ("fact.csv.zst", cut(zstd(BIG)), TRUNCATED.format(path="{path}", kind="zstd")),
    "zstd damaged": (
        "fact.csv.zst",
        zstd_bad_block(zstd(BIG)),
        "{path} is corrupt: its zstd data cannot be decompressed (ZSTD decompress failed: "
        "Data corruption detected); download or copy the file again",
    ),
}


@pytest.mark.parametrize("fault", list(COMPRESSED_FAULTS))
def test_compressed_fact_cut_or_damaged_is_refused(run, engine_name, tmp_path, fault):
    name, data, message = COMPRESSED_FAULTS[fault]
    fact = write(tmp_path / name, data)
    assert refused(run, fact, engine_name) == message.format(path=fact)


def test_compressed_part_of_a_folder_cut_is_named(run, engine_name, tmp_path):
    # the first part whole, the second cut: the second is named
    write(tmp_path / "fact" / "part-0.csv.gz", gzip.compress(BIG))
    part = write(tmp_path / "fact" / "part-1.csv.gz", cut(gzip.compress(BIG)))
    error = refused(run, tmp_path / "fact", engine_name)
    assert error == TRUNCATED.format(path=part, kind="gzip")


@pytest.mark.spark
def test_cut_input_read_through_hadoop_on_spark_is_refused(run, tmp_path, spark_in_process):
    # a URI the Spark engine reads through Hadoop is verified through Hadoop (over py4j) too
    from pyspark.sql import SparkSession

    good = run(SAMPLE, engine="spark")
    assert good.error is None
    conf = SparkSession.getActiveSession().sparkContext._jsc.hadoopConfiguration()
    table = f"reading{tmp_path.name}"  # a new mount table: Hadoop caches file systems by name
    conf.set(f"fs.viewfs.mounttable.{table}.link./data", (tmp_path / "data").as_uri())
    write(tmp_path / "data" / "fact.csv.gz", gzip_cut_at_a_line_end(BIG))
    fact = f"viewfs://{table}/data/fact.csv.gz"
    bad = run(fact, engine="spark")
    assert bad.error == TRUNCATED.format(path=fact, kind="gzip")
    assert delivered(bad) == delivered(good)


def parquet_of(data: bytes) -> bytes:
    """The CSV data as a Parquet file of text columns, in row groups of 2,000 lines."""
    header = next(csv.reader([data.decode().split("\n", 1)[0]]))
    table = pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string())),
    )
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=2000)
    return out.getvalue()


@pytest.mark.parametrize(
    "fault,message",
    [
        (
            cut,
            "{path} is truncated or corrupt: it starts as a Parquet file but its footer cannot "
            "be read (Parquet magic bytes not found in footer. Either the file is corrupted or "
            "this is not a parquet file.); download or copy the file again",
        ),
        (
            damaged,
            "{path} is corrupt: its Parquet data cannot be read (Corrupt snappy compressed "
            "data.); download or copy the file again",
        ),
    ],
)
def test_parquet_cut_or_damaged_is_named(run, engine_name, tmp_path, fault, message):
    # the footer is read before the engine; a damaged page is named once the engine fails on it
    fact = write(tmp_path / "fact.parquet", fault(parquet_of(BIG)))
    assert refused(run, fact, engine_name) == message.format(path=fact)


def city_csv() -> bytes:
    """The bundled city dimension as CSV text."""
    out = io.BytesIO()
    pacsv.write_csv(pq.read_table(CITIES), out)
    return out.getvalue()


@pytest.mark.parametrize("shape", ["file", "folder"])
def test_compressed_city_input_cut_is_refused(run, engine_name, tmp_path, shape):
    text = city_csv()
    if shape == "file":
        city = path = write(tmp_path / "cities.csv.gz", gzip_cut_at_a_line_end(text))
    else:
        city = tmp_path / "cities"
        write(city / "part-0.csv.gz", gzip.compress(text))
        path = write(city / "part-1.csv.gz", gzip_cut_at_a_line_end(text))
    error = refused(run, SAMPLE, engine_name, city=city)
    assert error == TRUNCATED.format(path=path, kind="gzip")


def test_whole_compressed_inputs_still_deliver(run, engine_name, tmp_path):
    # gzip members and a compressed city file, all whole: the same tables as the plain files
    plain_city = write(tmp_path / "cities.csv", city_csv())
    plain = run(SAMPLE, engine="duckdb", city=plain_city, db=str(tmp_path / "plain.duckdb"))
    middle = len(SAMPLE_BYTES) // 2
    cut_at = SAMPLE_BYTES.index(b"\n", middle) + 1
    fact = write(
        tmp_path / "fact.csv.gz",
        gzip.compress(SAMPLE_BYTES[:cut_at]) + gzip.compress(SAMPLE_BYTES[cut_at:]),
    )
    city = write(tmp_path / "cities.csv.bz2", bz2.compress(city_csv()))
    packed = run(fact, engine=engine_name, city=city, output=tmp_path / "out2")
    assert plain.error is None and packed.error is None
    assert delivered(packed) == delivered(plain)


# --- a good delivery, then a refused one -------------------------------------------------------

REFUSALS = {
    "gzip cut at a line end": (
        "fact.csv.gz",
        gzip_cut_at_a_line_end(BIG),
        TRUNCATED.format(path="{path}", kind="gzip"),
    ),
    "bzip2 damaged": COMPRESSED_FAULTS["bzip2 damaged"],
    "header only": ("fact.csv", HEADER.encode(), NO_ROWS),
    "semicolon-delimited": (
        "fact.csv",
        SAMPLE_BYTES.replace(b",", b";"),
        "{path} is semicolon-delimited, not comma-delimited: pass --delimiter ';'.",
    ),
    "UTF-16": (
        "fact.csv",
        SAMPLE_BYTES.decode().encode("utf-16"),
        "{path} is UTF-16 text (byte-order mark FF FE): save it as UTF-8 (Excel: Save As, CSV "
        "UTF-8) or convert it (iconv -f UTF-16 -t UTF-8), then run again.",
    ),
}


@pytest.mark.parametrize("fault", list(REFUSALS))
def test_refused_input_leaves_the_earlier_delivery(
    run, engine_name, warehouse_url, tmp_path, fault
):
    name, data, message = REFUSALS[fault]
    good = run(SAMPLE, engine="duckdb", db=warehouse_url)
    assert good.error is None
    fact = write(tmp_path / name, data)
    bad = run(fact, engine=engine_name, db=warehouse_url)
    assert bad.error == message.format(path=fact)
    assert delivered(bad) == delivered(good)
    assert statuses(bad) == ["success", "failed"]


# --- a header and no data ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,data",
    [
        ("fact.csv", HEADER.encode()),  # the header alone
        ("fact.csv", HEADER.rstrip("\n").encode()),  # without its line break
        ("fact.csv", HEADER.encode() + b"\n\r\n  \n"),  # and blank lines
        ("fact.csv.gz", gzip.compress(HEADER.encode())),  # compressed
    ],
)
def test_header_without_data_rows_is_refused(run, engine_name, tmp_path, name, data):
    fact = write(tmp_path / name, data)
    assert refused(run, fact, engine_name) == NO_ROWS.format(path=fact)


def test_folder_of_header_only_parts_is_refused(run, engine_name, tmp_path):
    for index in range(2):
        write(tmp_path / "fact" / f"part-{index}.csv", HEADER.encode())
    assert refused(run, tmp_path / "fact", engine_name) == (
        f"{tmp_path / 'fact'}: its parts have a header but no data rows: there is nothing to "
        "load; check the export or download that made it."
    )


def test_one_header_only_part_among_others_is_read(run, engine_name, tmp_path):
    # a writer's empty partition: the other part holds every line
    plain = run(SAMPLE, engine="duckdb", db=str(tmp_path / "plain.duckdb"))
    write(tmp_path / "fact" / "part-0.csv", HEADER.encode())
    write(tmp_path / "fact" / "part-1.csv", SAMPLE_BYTES)
    parts = run(tmp_path / "fact", engine=engine_name, output=tmp_path / "out2")
    assert plain.error is None and parts.error is None
    assert delivered(parts) == delivered(plain)


def test_parquet_without_rows_is_refused(run, engine_name, tmp_path):
    names = next(csv.reader([HEADER]))
    fact = tmp_path / "fact.parquet"
    pq.write_table(pa.table({name: pa.array([], pa.string()) for name in names}), fact)
    assert refused(run, fact, engine_name) == (
        f"{fact} has columns but no rows: there is nothing to load; check the export or "
        "download that made it."
    )


def test_city_header_without_rows_is_refused(run, engine_name, tmp_path):
    city = write(tmp_path / "cities.csv", city_csv().splitlines(keepends=True)[0])
    assert refused(run, SAMPLE, engine_name, city=city) == NO_ROWS.format(path=city)


# --- delimiters --------------------------------------------------------------------------------


def rewritten(delimiter: str) -> bytes:
    """The sample's rows written again with `delimiter` (fields quoted only where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerows(csv.reader(io.StringIO(SAMPLE_BYTES.decode())))
    return out.getvalue().encode()


@pytest.mark.parametrize(
    "delimiter,declared,advice",
    [
        (";", None, "semicolon-delimited, not comma-delimited: pass --delimiter ';'."),
        ("\t", None, "tab-delimited, not comma-delimited: pass --delimiter tab."),
        ("|", None, "pipe-delimited, not comma-delimited: pass --delimiter '|'."),
        (",", "tab", "comma-delimited, not tab-delimited: pass --delimiter ','."),
        ("\t", ";", "tab-delimited, not semicolon-delimited: pass --delimiter tab."),
    ],
)
def test_other_delimiter_is_named(run, engine_name, tmp_path, delimiter, declared, advice):
    fact = write(tmp_path / "fact.txt", rewritten(delimiter))
    settings = {"delimiter": declared} if declared else {}
    assert refused(run, fact, engine_name, **settings) == f"{fact} is {advice}"


def test_city_input_with_another_delimiter_is_named(run, engine_name, tmp_path):
    rows = csv.reader(io.StringIO(city_csv().decode()))
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\n").writerows(rows)
    city = write(tmp_path / "cities.csv", out.getvalue().encode())
    assert refused(run, SAMPLE, engine_name, city=city) == (
        f"{city} is semicolon-delimited: the city dimension is read as comma-delimited; save it "
        "as a comma-separated CSV."
    )


def test_tab_delimited_txt_with_delimiter_tab_gives_the_comma_files_tables(
    run, engine_name, tmp_path
):
    # the 2013-2015 CMS detail files: tab-delimited .txt, fields unquoted
    comma = write(tmp_path / "fact.csv", rewritten(","))
    tab = write(tmp_path / "fact.txt", rewritten("\t"))
    assert b"\t" in tab.read_bytes() and b'"' not in tab.read_bytes()
    by_comma = run(comma, engine="duckdb", db=str(tmp_path / "comma.duckdb"))
    by_tab = run(tab, engine=engine_name, delimiter="tab", output=tmp_path / "out2")
    assert by_comma.error is None and by_tab.error is None
    assert delivered(by_tab) == delivered(by_comma)
    counted = ("rows_read", "rows_kept", "rows_quarantined", "trx_unimputed")
    assert [by_tab.record[c] for c in counted] == [by_comma.record[c] for c in counted]


# --- text that is not UTF-8 CSV, archives, workbooks -------------------------------------------

UTF16 = (
    "{path} is {what}: save it as UTF-8 (Excel: Save As, CSV UTF-8) or convert it (iconv -f "
    "{iconv} -t UTF-8), then run again."
)


TEXT = SAMPLE_BYTES.decode()


@pytest.mark.parametrize(
    "name,data,what,iconv",
    [
        ("fact.csv", TEXT.encode("utf-16"), "UTF-16 text (byte-order mark FF FE)", "UTF-16"),
        (
            "fact.csv",
            b"\xfe\xff" + TEXT.encode("utf-16-be"),
            "UTF-16 text (byte-order mark FE FF)",
            "UTF-16",
        ),
        (
            "fact.csv",  # no byte-order mark: how NUL-interleaved text is told
            TEXT.encode("utf-16-le"),
            "UTF-16LE text (every other byte is zero)",
            "UTF-16LE",
        ),
        (
            "fact.csv",
            TEXT.encode("utf-16-be"),
            "UTF-16BE text (every other byte is zero)",
            "UTF-16BE",
        ),
        ("fact.csv", TEXT.encode("utf-32"), "UTF-32 text (byte-order mark FF FE 00 00)", "UTF-32"),
        (
            "fact.csv.gz",  # told from the decompressed text
            gzip.compress(TEXT.encode("utf-16")),
            "UTF-16 text (byte-order mark FF FE)",
            "UTF-16",
        ),
    ],
)
def test_utf16_text_is_named(run, engine_name, tmp_path, name, data, what, iconv):
    fact = write(tmp_path / name, data)
    assert refused(run, fact, engine_name) == UTF16.format(path=fact, what=what, iconv=iconv)


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


WORKBOOK = (
    "{path} is an Excel workbook, not a CSV file: export the sheet as CSV (Excel: Save As, CSV "
    "UTF-8) and point --{role} at that file."
)
ARCHIVE = "{path} is a zip archive: unzip it and point --{role} at the CSV or Parquet file inside."
XLSX = zipped({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
TAR = (
    "{path} is a tar archive: extract it (tar -xf) and point --{role} at the CSV or Parquet "
    "file inside."
)


# an Excel 97-2003 workbook starts with the OLE2 compound-file signature
XLS = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504)


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("fact.zip", zipped({"fact.csv": SAMPLE_BYTES}), ARCHIVE),
        ("fact.csv", zipped({"fact.csv": SAMPLE_BYTES}), ARCHIVE),  # whatever its name
        ("fact.zip", zipped({}), ARCHIVE),  # an empty archive
        ("fact.xlsx", XLSX, WORKBOOK),
        ("fact.xls", XLS, WORKBOOK),
        ("fact.tar.gz", gzip.compress(tar_archive(SAMPLE_BYTES)), TAR),
        (
            "fact.csv.xz",
            lzma.compress(SAMPLE_BYTES),
            "{path} is xz-compressed, which is not read: decompress it (xz -d) or compress it "
            "with gzip, and point --{role} at the CSV or Parquet file.",
        ),
        (
            "fact.csv",  # what a failed download saves
            b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n",
            "{path} is a web page (HTML), not CSV: the download most likely failed; download "
            "the file again.",
        ),
    ],
)
def test_archive_workbook_or_page_is_named(run, engine_name, tmp_path, name, data, message):
    fact = write(tmp_path / name, data)
    assert refused(run, fact, engine_name) == message.format(path=fact, role="fact")


def test_workbook_as_city_input_is_named(run, engine_name, tmp_path):
    city = write(tmp_path / "cities.xlsx", XLSX)
    assert refused(run, SAMPLE, engine_name, city=city) == WORKBOOK.format(path=city, role="city")


def test_header_not_utf8_suggests_an_encoding(run, engine_name, tmp_path):
    # a Latin-1 é in an extra column's name
    fact = write(tmp_path / "fact.csv", SAMPLE_BYTES.replace(b",year_exp", b",year_exp,r\xe9f", 1))
    assert refused(run, fact, engine_name) == (
        f"{fact}: its header is not valid UTF-8 text (byte 0xe9 at byte {len(HEADER) - 1 + 3}); "
        "pass --encoding latin-1 or --encoding cp1252 if it was written so, or save it as UTF-8."
    )


def test_utf8_mark_with_another_encoding_declared_is_named(run, engine_name, tmp_path):
    fact = write(tmp_path / "fact.csv", b"\xef\xbb\xbf" + SAMPLE_BYTES)
    assert refused(run, fact, engine_name, encoding="cp1252") == (
        f"{fact} starts with a UTF-8 byte-order mark, so it is UTF-8 text, not Windows-1252: "
        "drop --encoding (UTF-8 is the default)."
    )


# --- a column named twice ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra,message",
    [
        # a known column again, in other case: the engines compare names in any case
        (
            "Drug_Name",
            "names the column 'Drug_Name' twice (columns 8 and 23: 'drug_name', 'Drug_Name')",
        ),
        # an unknown column again, exactly
        ("bene_count_ge65", "names the column 'bene_count_ge65' twice (columns 15 and 23)"),
        # with blanks around it
        (" npi ", "names the column 'npi' twice (columns 1 and 23)"),
    ],
)  # fmt: skip
def test_fact_column_named_twice_is_refused(run, engine_name, tmp_path, extra, message):
    lines = [HEADER.rstrip("\n") + f",{extra}\n"] + [line.rstrip("\n") + ",x\n" for line in LINES]
    fact = write(tmp_path / "fact.csv", "".join(lines).encode())
    assert refused(run, fact, engine_name) == (
        f"{fact}: its header {message}; rename or remove one of them."
    )


def test_city_column_named_twice_is_refused(run, engine_name, tmp_path):
    text = city_csv().decode().splitlines(keepends=True)
    lines = [text[0].rstrip("\n") + ',"city"\n'] + [line.rstrip("\n") + ",x\n" for line in text[1:]]
    city = write(tmp_path / "cities.csv", "".join(lines).encode())
    assert refused(run, SAMPLE, engine_name, city=city) == (
        f"{city}: its header names the column 'city' twice (columns 1 and "
        f"{len(next(csv.reader([text[0]]))) + 1}); rename or remove one of them."
    )


# --- a UTF-8 byte-order mark ---------------------------------------------------------------------


def quoted_header(data: bytes) -> bytes:
    header, rest = data.split(b"\n", 1)
    return b",".join(b'"' + name + b'"' for name in header.split(b",")) + b"\n" + rest


@pytest.mark.parametrize(
    "name,data",
    [
        ("fact.csv", b"\xef\xbb\xbf" + quoted_header(SAMPLE_BYTES)),  # Excel's CSV UTF-8
        ("fact.csv", b"\xef\xbb\xbf" + SAMPLE_BYTES),  # the mark before an unquoted header
        ("fact.csv.gz", gzip.compress(b"\xef\xbb\xbf" + quoted_header(SAMPLE_BYTES))),
    ],
)
def test_utf8_mark_before_the_header_gives_the_plain_files_tables(
    run, engine_name, tmp_path, name, data
):
    plain = run(SAMPLE, engine="duckdb", db=str(tmp_path / "plain.duckdb"))
    fact = write(tmp_path / name, data)
    marked = run(fact, engine=engine_name, output=tmp_path / "out2")
    assert plain.error is None and marked.error is None
    assert delivered(marked) == delivered(plain)


def test_city_input_with_a_utf8_mark_is_read(run, engine_name, tmp_path):
    # pyarrow quotes every header name, as Excel does
    plain_city = write(tmp_path / "plain" / "cities.csv", city_csv())
    plain = run(SAMPLE, engine="duckdb", city=plain_city, db=str(tmp_path / "plain.duckdb"))
    city = write(tmp_path / "cities.csv", b"\xef\xbb\xbf" + city_csv())
    marked = run(SAMPLE, engine=engine_name, city=city, output=tmp_path / "out2")
    assert plain.error is None and marked.error is None
    assert delivered(marked) == delivered(plain)


# --- file names that look like patterns ---------------------------------------------------------


@pytest.mark.parametrize("name", ["fact[1].csv", "fact*.csv", "fact?.csv"])
def test_file_named_like_a_pattern_is_read_alone(run, engine_name, tmp_path, name):
    # readers take a path as a glob: `fact[1].csv` would read `fact1.csv` beside it instead
    plain = run(SAMPLE, engine="duckdb", db=str(tmp_path / "plain.duckdb"))
    fact = write(tmp_path / "in" / name, SAMPLE_BYTES)
    write(tmp_path / "in" / "fact1.csv", (HEADER + LINES[0]).encode())
    named = run(fact, engine=engine_name, output=tmp_path / "out2")
    assert plain.error is None and named.error is None
    assert delivered(named) == delivered(plain)
