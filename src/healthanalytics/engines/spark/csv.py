"""How the Spark engine reads a CSV input, so that it accepts and refuses what DuckDB does.

- The header's columns as the schema: a line with more or fewer fields than the header stops
  the scan with `MALFORMED` and the file's name, empty extra fields included (Univocity counts
  them). PERMISSIVE, not FAILFAST, so that a line of one blank value (`BLANK_LINE`) can be
  skipped first: Spark's line reader drops such lines unquoted before parsing, the others
  (quoted, or in a file read whole) reach the parser and would fail it.
- A quote followed by text (`"x"y`) is refused (unescapedQuoteHandling=RAISE_ERROR), as DuckDB
  refuses it, instead of being read as the value `"x"y`.
- Spark's decoder turns bytes that are not text in the declared encoding into U+FFFD where
  DuckDB refuses them: a line holding U+FFFD stops the scan with `NOT_TEXT` and the file's name,
  and the driver finds the bad byte (a file holding U+FFFD as text is then read without it).
- A NUL inside a quoted value is kept (charToEscapeQuoteEscaping, see csv_frame), as DuckDB
  keeps it, in a file read by line or whole.
- The read mode is chosen before the read. A plain or bzip2 input (splittable) is read one
  line per record, in parallel, unless a quick pass over its raw lines (`odd_quote_files`, in
  the JVM) finds a line with an odd number of quotes: only a line that opens or closes a quoted
  line break, or holds a quote never closed (or a lone `"` inside an unquoted value), has one;
  or a line longer than DuckDB reads (`LONGEST_LINE`), which Spark would read.
  The driver then reads those files through (csv_lines.find_bad_line): a bad line stops the
  run as on DuckDB, a quoted line break has the input read whole (multiLine). A gzip or zstd
  input, one task per file anyway, is read whole from the start; should that fail on a file
  without quoted line breaks, it is read by line instead.
- Read whole, Univocity ends lines only as the file's first line ends: `lineSep` LF when the
  header ends in LF or CRLF (a CRLF-ended line then leaves a CR on its last value, dropped
  here), its own detection when the header ends in a lone CR (which also ends lines at CRLF).
  Line breaks inside quoted values are kept as written, as DuckDB keeps them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from healthanalytics.engines.spark.paths import glob_unescaped
from healthanalytics.io.csv_lines import BLANK_LINE, LONGEST_LINE, open_bytes
from healthanalytics.io.files import FileAccess
from healthanalytics.io.inputs import InputFiles

NOT_TEXT = "healthanalytics: U+FFFD in a line of "
MALFORMED = "healthanalytics: a line with a wrong number of fields in "
_CORRUPT = "__healthanalytics_corrupt"
# Python codec name -> Java charset name
_CHARSETS = {"utf-8": "UTF-8", "iso8859-1": "ISO-8859-1", "cp1252": "windows-1252"}
_READ_FILE = re.compile(r"Encountered error while reading file (\S+?)\.?\s")
_OURS = re.compile(f"(?:{re.escape(NOT_TEXT)}|{re.escape(MALFORMED)})" + r"(\S+)")
_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass
class SparkCsvSource:
    """One CSV input read through a view, and how: the recovery steps change these and
    register the view again."""

    view: str
    files: InputFiles
    columns: tuple[str, ...]
    paths: tuple[str, ...]  # as Spark reads them (file:// URIs for local paths)
    check_text: bool = True
    # the files read whole (multiLine), by input path, with the lineSep that reads each: "\n"
    # when its header ends in LF or CRLF, None (Univocity's detection) when in a lone CR;
    # every other file is read one line per record
    whole: dict[str, str | None] = field(default_factory=dict)

    def input_path(self, named: str) -> str | None:
        """The input file that Spark names `named` (a URI, maybe %-encoded), if one of ours."""
        for path, read in zip(self.files.paths, self.paths, strict=True):
            read = glob_unescaped(read)
            if unquote(named) in (read, unquote(read), path):
                return path
        return None


def odd_quote_files(session: SparkSession, source: SparkCsvSource) -> list[str]:
    """The source's files (as `files.paths` names them) holding a line with an odd number of
    `"`, or a line that may be longer than DuckDB reads (LONGEST_LINE, which Univocity does not
    limit): a pass over the raw lines (LF, CRLF and CR all end one), counted in bytes in the
    JVM (of UTF-8: a file in another encoding may be looked through for nothing)."""
    value = F.col("value")
    quotes = F.octet_length(value) - F.octet_length(F.replace(value, F.lit('"'), F.lit("")))
    named = (
        session.read.text(list(source.paths))
        .where((quotes % 2 == 1) | (F.octet_length(value) >= LONGEST_LINE))
        .select(F.input_file_name().alias("file"))
        .distinct()
        .collect()
    )
    found = {source.input_path(row.file) for row in named}
    return [path for path in source.files.paths if path in found]


def whole_line_sep(files: InputFiles, path: str, access: FileAccess) -> str | None:
    """The `lineSep` that reads the file whole: None (Univocity's detection, which ends lines
    at CR and CRLF) when its first line ends in a lone CR, else LF (for LF and CRLF)."""
    head = b""
    with open_bytes(files, path, access) as stream:
        while chunk := stream.read(64 * 1024):
            head += chunk
            end = _LINE_END.search(head)
            if end and end.end() < len(head):  # a CR at the very end may start a CRLF
                break
    end = _LINE_END.search(head)
    return None if end and end[0] == b"\r" else "\n"


def csv_frame(session: SparkSession, source: SparkCsvSource) -> DataFrame:
    """The source's lines, every header column as text."""
    encoding = source.files.dialect.encoding
    if encoding == "cp1252":  # Spark 4 offers only a few charsets unless told otherwise
        session.conf.set("spark.sql.legacy.javaCharsets", "true")
    groups: dict[tuple[bool, str | None], list[str]] = {}
    for path, read in zip(source.files.paths, source.paths, strict=True):
        mode = (True, source.whole[path]) if path in source.whole else (False, None)
        groups.setdefault(mode, []).append(read)
    frames = [_read(session, source, paths, *mode) for mode, paths in groups.items()]
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.union(other)
    columns = [F.col(f"`{name}`") for name in source.columns]
    # a short line's values come padded with nulls, and an empty value is null too: one blank
    # value is a line of blanks without a delimiter (which a tab delimiter is: see RULES)
    blank = columns[1].isNull() & F.coalesce(columns[0], F.lit("")).rlike(f"^{BLANK_LINE}\\z")
    delimiter = source.files.dialect.delimiter
    if delimiter > " ":
        blank = blank & ~F.col(_CORRUPT).contains(delimiter)
    malformed = F.raise_error(F.concat(F.lit(MALFORMED), F.input_file_name()))
    wrong = F.col(_CORRUPT).isNotNull()
    keep = F.when(wrong, F.when(blank, F.lit(False)).otherwise(malformed))
    if encoding != "iso8859-1" and source.check_text:  # every byte is a Latin-1 character
        replaced = _any(column.contains("\ufffd") for column in columns)
        keep = keep.when(replaced, F.raise_error(F.concat(F.lit(NOT_TEXT), F.input_file_name())))
    return frame.where(keep.otherwise(F.lit(True))).select(*columns)


def _read(
    session: SparkSession,
    source: SparkCsvSource,
    paths: list[str],
    whole: bool,
    line_sep: str | None,
) -> DataFrame:
    files = source.files
    fields = [*source.columns, _CORRUPT]
    schema = StructType([StructField(name, StringType(), True) for name in fields])
    options = {"lineSep": line_sep} if line_sep else {}
    frame = session.read.csv(
        paths,
        schema=schema,
        header=True,
        enforceSchema=True,  # every part's header was read and checked before the engine saw it
        sep=files.dialect.delimiter,
        quote='"',
        escape='"',
        # unset (NUL), Univocity drops every NUL of a quoted value that holds a line break or a
        # doubled quote; '"' reads every other value as before
        charToEscapeQuoteEscaping='"',
        encoding=_CHARSETS[files.dialect.encoding],
        mode="PERMISSIVE",
        columnNameOfCorruptRecord=_CORRUPT,
        unescapedQuoteHandling="RAISE_ERROR",
        multiLine=whole,
        ignoreLeadingWhiteSpace=False,
        ignoreTrailingWhiteSpace=False,
        **options,
    )
    if line_sep != "\n":
        return frame
    # the CR of a CRLF-ended line, left on its last value (an empty one was null)
    name = source.columns[-1]
    last = F.col(f"`{name}`")
    cut = F.when(F.length(last) > 1, last.substr(F.lit(1), F.length(last) - 1))
    return frame.withColumn(name, F.when(last.endswith("\r"), cut).otherwise(last))


def failed_file(text: str) -> str | None:
    """The file a Spark failure names: the one whose reading failed, or whose line held U+FFFD
    or a wrong number of fields."""
    found = _OURS.search(text) or _READ_FILE.search(text)
    return found[1] if found else None


def _any(conditions) -> Column:
    conditions = list(conditions)
    result = conditions[0]
    for condition in conditions[1:]:
        result = result | condition
    return result
