"""Finding the first bad line of a CSV input on the driver."""

from __future__ import annotations

import gzip

import pytest

from healthanalytics.io import csv_lines
from healthanalytics.io.csv_lines import BadLine, Scan, find_bad_line
from healthanalytics.io.inputs import CsvDialect, resolve_input


def scan(tmp_path, content: bytes, encoding: str = "utf-8", name: str = "f.csv") -> Scan:
    path = tmp_path / name
    path.write_bytes(content)
    return find_bad_line(resolve_input(str(path), "fact", dialect=CsvDialect(",", encoding)), 3)


def bad(tmp_path, line: int, what: str, text: str, name: str = "f.csv") -> BadLine:
    return BadLine(str(tmp_path / name), line, what, text)


def test_good_file_has_no_bad_line(tmp_path):
    # CRLF, a blank line, blanks after a closing quote, a quote inside a value, no final break
    content = b'a,b,c\r\n1,"x" ,3\r\n\r\n4,a"b,6\r\n7,8,9'
    assert scan(tmp_path, content) == Scan(None)


@pytest.mark.parametrize(
    ("content", "line", "what", "text"),
    [
        # an empty extra field counts
        (b"a,b,c\n1,2,3\n4,5,6,\n", 3, "expected 3 columns, found 4", "4,5,6,"),
        # lines end in LF, CR or CRLF, each counted once
        (b"a,b,c\r\n1,2,3\r4,5,6\n7,8\n", 4, "expected 3 columns, found 2", "7,8"),
        # a record over two lines is numbered by its first line; the lines after count both
        (b'a,b,c\n1,"x\ny",3\n4,5\n', 4, "expected 3 columns, found 2", "4,5"),
        (b'a,b,c\n1,"x"y,3\n', 2, "text follows a closing quote", '1,"x"y,3'),
        (b'a,b,c\n1,2,3\n4,"5,6\n7,8,9\n', 3, "a quoted value is never closed", '4,"5,6'),
    ],
    ids=["empty-extra", "line-endings", "after-multiline", "quote-then-text", "never-closed"],
)
def test_first_malformed_record(tmp_path, content, line, what, text):
    assert scan(tmp_path, content).bad == bad(tmp_path, line, what, text)


def test_first_bad_line_wins_whatever_its_kind(tmp_path):
    # a short line before an undecodable one, and the other way round
    assert scan(tmp_path, b"a,b,c\n1,2\n3,\xff,4\n").bad == bad(
        tmp_path, 2, "expected 3 columns, found 2", "1,2"
    )
    found = scan(tmp_path, b"a,b,c\n3,\xff,4\n1,2\n").bad
    assert (found.line, found.what, found.text) == (2, "byte 0xff is not UTF-8 text", "3,\ufffd,4")


def test_lines_of_one_blank_value_are_skipped(tmp_path):
    # spaces, a tab, other characters up to U+0020, a quoted blank value, one at the very end
    content = b'a,b,c\n1,2,3\n   \n\t\n \x0b\x01\n"  "\n4,5,6\n \t'
    assert scan(tmp_path, content) == Scan(None)
    # two blank values are a line of two fields
    assert scan(tmp_path, b"a,b,c\n  ,\t\n").bad == bad(
        tmp_path, 2, "expected 3 columns, found 2", "  ,\t"
    )


def test_quoted_line_break_is_reported(tmp_path):
    assert scan(tmp_path, b'a,b,c\n1,"x\r\ny",3\n') == Scan(None, spans_lines=True)


def test_bad_byte_is_found_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_lines, "_CHUNK", 4)
    # a two-byte character and a CRLF cut by chunk ends, then a byte Latin-1 writes
    found = scan(tmp_path, "a,b,c\r\n1,é,3\r\n4,5,6\r\n".encode() + b"7,\xe9,9\n").bad
    assert (found.line, found.what) == (4, "byte 0xe9 is not UTF-8 text")


def test_cp1252_bytes_without_a_character(tmp_path):
    found = scan(tmp_path, b"a,b,c\n1,\x80\x81,3\n", encoding="cp1252").bad
    assert (found.line, found.what, found.text) == (
        2,
        "byte 0x81 is not cp1252 text",
        "1,€\ufffd,3",
    )
    assert found.remedy == "pass the --encoding the file is written in, or save it as UTF-8"


def test_compressed_part_is_read_decompressed(tmp_path):
    found = scan(tmp_path, gzip.compress(b"a,b,c\n1,2,3,\n"), name="f.csv.gz").bad
    assert found == bad(tmp_path, 2, "expected 3 columns, found 4", "1,2,3,", name="f.csv.gz")


def test_message_is_one_line_with_the_remedy(tmp_path):
    found = scan(tmp_path, b"a,b,c\n" + b"x," * 100 + b"\n").bad
    assert found.message() == (
        f"{tmp_path / 'f.csv'}: line 2: expected 3 columns, found 101 ({'x,' * 60}); "
        "fix or remove that row"
    )


LONGEST = csv_lines.LONGEST_LINE
TOO_LONG = f"the line is longer than {LONGEST:,} bytes"


@pytest.mark.parametrize(
    ("line", "what"),
    [
        # an unquoted value on a line one byte too long: no quote to blame
        (b"1,2," + b"x" * (LONGEST - 3), TOO_LONG),
        # a record over several lines counts whole, its line breaks included
        (b'1,"' + b"x\n" * (LONGEST // 2 - 2) + b'xy",3', TOO_LONG),
        # counted in bytes: two-byte characters, half as many
        (b"1,2," + "é".encode() * (LONGEST // 2), TOO_LONG),
        # a quote opened and not closed within the limit
        (b'1,"' + b"x" * (LONGEST + 1),
         f"a quoted value runs on for over {LONGEST:,} bytes (a quote never closed?)"),
    ],
    ids=["unquoted", "quoted-line-breaks", "two-byte-characters", "quote-open"],
)  # fmt: skip
def test_line_longer_than_duckdb_reads(tmp_path, line, what):
    found = scan(tmp_path, b"a,b,c\n1,2,3\n" + line + b"\n4,5,6\n").bad
    assert (found.line, found.what, found.text) == (3, what, line.decode().splitlines()[0])


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_line_as_long_as_duckdb_reads(tmp_path, ending):
    # LONGEST bytes with the CR of a CRLF, which DuckDB counts
    line = b"1,2," + b"x" * (LONGEST - 4 - len(ending) + 1)
    content = ending.join([b"a,b,c", line, b"4,5,6", b""])
    assert scan(tmp_path, content) == Scan(None)
