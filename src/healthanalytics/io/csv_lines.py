"""Finding, on the driver, the first line of a CSV input that cannot be read as declared.

The failure path only: an engine has already refused the input (or seen a sign of trouble), and
the user needs the file, the line and the cause, the same whichever engine read it. Lines are
counted as a text editor counts them (header = line 1; a line ends at LF, CRLF or CR), and the
line named is the first bad one in the file, not whichever one a parallel reader met first.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow as pa

from healthanalytics.io.files import LOCAL_FILES, FileAccess
from healthanalytics.io.inputs import InputFiles

log = logging.getLogger(__name__)

_CHUNK = 16 * 1024 * 1024
_SHOWN = 120  # characters of a line quoted in a message
# The longest line either engine reads, in bytes of the declared encoding: a record over
# several lines counts whole, its line breaks included, the LF ending it not (the CR of a CRLF
# does: DuckDB counts it). DuckDB's reader is given it (max_line_size, one more); Spark's
# inputs are looked through for longer lines.
LONGEST_LINE = 2_000_000
_ENCODING_NAMES = {"utf-8": "UTF-8", "iso8859-1": "Latin-1", "cp1252": "cp1252"}
_LINE_BREAK = re.compile(rb"\r\n?|\n")
# A line holding one value of nothing but characters up to U+0020 (spaces, tabs, other C0
# controls), quoted or not, is skipped like a blank line: Spark's line reader drops such lines
# unquoted (Java's trim) before parsing them, unseen. A regex RE2 and Java read alike.
BLANK_LINE = r"[\x00-\x20]*"


@dataclass(frozen=True)
class BadLine:
    """A line the declared dialect cannot read: where it is, what is wrong, what to do."""

    path: str
    line: int
    what: str
    text: str
    remedy: str = "fix or remove that row"

    def message(self) -> str:
        """`<file>: line N: <what> (<the line>); <what to do>`."""
        return f"{self.path}: line {self.line}: {self.what} ({self.text[:_SHOWN]}); {self.remedy}"


@dataclass(frozen=True)
class Scan:
    """What a look through the files found: the first bad line (None when every line reads),
    and whether a quoted value holds a line break before it (a record over several lines)."""

    bad: BadLine | None
    spans_lines: bool = False


def open_bytes(files: InputFiles, path: str, access: FileAccess = LOCAL_FILES) -> BinaryIO:
    """One part file's bytes, decompressed."""
    raw = access.open(path)
    if files.compression:
        return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), files.compression)
    return io.BufferedReader(raw, _CHUNK) if isinstance(raw, io.RawIOBase) else raw


def find_bad_line(
    files: InputFiles,
    columns: int,
    access: FileAccess = LOCAL_FILES,
    paths: Iterable[str] | None = None,
) -> Scan:
    """The first line of `paths` (every part file by default, in order) that is not text in
    the declared encoding, or whose record is not `columns` fields of RFC 4180 CSV. A file that
    cannot be read to its end (a truncated archive, say) counts as holding no bad line: the
    caller then reports the engine's own error."""
    spans_lines = False
    for path in paths if paths is not None else files.paths:
        try:
            scan = _scan_file(files, path, columns, access)
        except (OSError, EOFError, pa.ArrowException) as err:
            log.warning("could not look through %s for its bad line: %s", path, err)
            continue
        spans_lines = spans_lines or scan.spans_lines
        if scan.bad is not None:
            return Scan(scan.bad, spans_lines)
    return Scan(None, spans_lines)


def _scan_file(files: InputFiles, path: str, columns: int, access: FileAccess) -> Scan:
    not_text = None
    if files.dialect.encoding != "iso8859-1":  # every byte is a Latin-1 character
        with open_bytes(files, path, access) as stream:
            not_text = _first_undecodable_line(stream, files.dialect.encoding, path)
    # the structure is read up to the first undecodable line only: that one comes first
    with open_bytes(files, path, access) as stream:
        scan = _first_malformed_record(stream, files, path, columns, not_text)
    return scan if scan.bad is not None else Scan(not_text, scan.spans_lines)


def _first_undecodable_line(stream: BinaryIO, encoding: str, path: str) -> BadLine | None:
    """The first line holding bytes that are not text in `encoding`, read chunk by chunk."""
    line = 1  # the line the next chunk starts on
    carry = b""  # a character cut by a chunk's end, or a CR that may start a CRLF
    while True:
        chunk = stream.read(_CHUNK)
        data = carry + chunk
        try:
            data.decode(encoding)
            whole = len(data)
        except UnicodeDecodeError as err:
            if not (chunk and err.end == len(data) and err.reason == "unexpected end of data"):
                return BadLine(
                    path, line + _line_breaks(data[: err.start]), *_not_text(data, err, encoding)
                )
            whole = err.start
        if not chunk:
            return None
        if data[:whole].endswith(b"\r"):
            whole -= 1
        line += _line_breaks(data[:whole])
        carry = data[whole:]


def _line_breaks(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _not_text(data: bytes, err: UnicodeDecodeError, encoding: str) -> tuple[str, str, str]:
    start = max(data.rfind(b"\n", 0, err.start), data.rfind(b"\r", 0, err.start)) + 1
    end = _LINE_BREAK.search(data, err.start)
    text = data[start : end.start() if end else len(data)].decode(encoding, errors="replace")
    if encoding == "utf-8":
        remedy = (
            "pass --encoding latin-1 or --encoding cp1252 if the file is written so, "
            "or save it as UTF-8"
        )
    else:
        remedy = "pass the --encoding the file is written in, or save it as UTF-8"
    byte = data[err.start : err.start + 1].hex()
    return f"byte 0x{byte} is not {_ENCODING_NAMES.get(encoding, encoding)} text", text, remedy


def _first_malformed_record(
    stream: BinaryIO, files: InputFiles, path: str, columns: int, before: BadLine | None
) -> Scan:
    """The first record after the header, starting before line `before`, that is not `columns`
    fields or whose quotes are wrong, read as both engines read CSV: `"` quotes, `""` inside,
    blanks after a closing quote dropped, blank lines and lines of one blank value skipped."""
    encoding = "utf-8-sig" if files.dialect.encoding == "utf-8" else files.dialect.encoding
    text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
    delimiter = files.dialect.delimiter
    record: list[str] = []  # the lines of the record being read, as in the file

    def lines() -> Iterator[str]:
        for line in text:
            record.append(line)
            yield line

    reader = csv.reader(lines(), delimiter=delimiter, quotechar='"', strict=True)
    spans_lines = False
    start = 1  # the line the record being read starts on
    # a value that long makes a line too long: the reader need hold no more of the file
    with _value_limit(LONGEST_LINE):
        while before is None or start < before.line:
            try:
                fields: list[str] | str = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                fields = _reread(record, delimiter, str(err))
            if isinstance(fields, list) and _too_long(record, files.dialect.encoding):
                fields = TOO_LONG
            if isinstance(fields, str):
                return Scan(BadLine(path, start, fields, _first_line(record)), spans_lines)
            if start > 1 and fields and len(fields) != columns and not _blank_only(fields):
                what = f"expected {columns} columns, found {len(fields)}"
                return Scan(BadLine(path, start, what, _first_line(record)), spans_lines)
            spans_lines = spans_lines or len(record) > 1
            record.clear()
            start = reader.line_num + 1
    return Scan(None, spans_lines)


# a closing quote followed by blanks, then the delimiter or the line's end
_BLANKS_AFTER_QUOTE = r'"[ \t]+(?={delimiter}|[\r\n]|$)'


def _reread(record: list[str], delimiter: str, error: str) -> list[str] | str:
    """The fields of a record Python's strict reader refused, read again as DuckDB and Spark
    read it (both drop blanks after a closing quote); what is wrong when they refuse it too."""
    if "field larger than field limit" in error:
        # an unquoted value that long is on one line, read whole; a quoted one is still open
        text = io.StringIO("".join(record), newline="")
        with _value_limit(sys.maxsize), contextlib.suppress(csv.Error, StopIteration):
            next(csv.reader(text, delimiter=delimiter, strict=True))
            return TOO_LONG
        return f"a quoted value runs on for over {LONGEST_LINE:,} bytes (a quote never closed?)"
    if "unexpected end of data" in error:
        return "a quoted value is never closed"
    blanks = _BLANKS_AFTER_QUOTE.format(delimiter=re.escape(delimiter))
    cleaned = re.sub(blanks, '"', "".join(record))
    try:
        return next(csv.reader(io.StringIO(cleaned, newline=""), delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration):
        return "text follows a closing quote"


TOO_LONG = f"the line is longer than {LONGEST_LINE:,} bytes"


def _too_long(record: list[str], encoding: str) -> bool:
    """Whether a record read whole is longer than LONGEST_LINE bytes, as DuckDB counts it."""
    text = "".join(record).removesuffix("\n")
    # a character is at most 4 bytes: most records need not be encoded to be measured
    return len(text) > LONGEST_LINE // 4 and len(text.encode(encoding, "replace")) > LONGEST_LINE


def _blank_only(fields: list[str]) -> bool:
    """Whether a record is one value of nothing but characters up to U+0020 (see BLANK_LINE)."""
    return len(fields) == 1 and all(character <= " " for character in fields[0])


def _first_line(record: list[str]) -> str:
    return record[0].rstrip("\r\n") if record else ""


@contextlib.contextmanager
def _value_limit(limit: int) -> Iterator[None]:
    """csv's longest value is a process-wide setting: changed for the scan, then put back."""
    before = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(before)
