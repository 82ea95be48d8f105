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
- One line per record keeps files splittable; a file whose quoted values hold line breaks is
  read again with multiLine, only once the driver has found such a value in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from healthanalytics.io.csv_lines import BLANK_LINE
from healthanalytics.io.inputs import InputFiles

NOT_TEXT = "healthanalytics: U+FFFD in a line of "
MALFORMED = "healthanalytics: a line with a wrong number of fields in "
_CORRUPT = "__healthanalytics_corrupt"
# Python codec name -> Java charset name
_CHARSETS = {"utf-8": "UTF-8", "iso8859-1": "ISO-8859-1", "cp1252": "windows-1252"}
_READ_FILE = re.compile(r"Encountered error while reading file (\S+?)\.?\s")
_OURS = re.compile(f"(?:{re.escape(NOT_TEXT)}|{re.escape(MALFORMED)})" + r"(\S+)")


@dataclass
class SparkCsvSource:
    """One CSV input read through a view, and how: the recovery steps change these and
    register the view again."""

    view: str
    files: InputFiles
    columns: tuple[str, ...]
    paths: tuple[str, ...]  # as Spark reads them (file:// URIs for local paths)
    multiline: bool = False
    check_text: bool = True

    def input_path(self, named: str) -> str | None:
        """The input file that Spark names `named` (a URI, maybe %-encoded), if one of ours."""
        for path, read in zip(self.files.paths, self.paths, strict=True):
            if unquote(named) in (read, unquote(read), path):
                return path
        return None


def csv_frame(session: SparkSession, source: SparkCsvSource) -> DataFrame:
    """The source's lines, every header column as text."""
    files = source.files
    encoding = files.dialect.encoding
    if encoding == "cp1252":  # Spark 4 offers only a few charsets unless told otherwise
        session.conf.set("spark.sql.legacy.javaCharsets", "true")
    fields = [*source.columns, _CORRUPT]
    schema = StructType([StructField(name, StringType(), True) for name in fields])
    frame = session.read.csv(
        list(source.paths),
        schema=schema,
        header=True,
        enforceSchema=True,  # every part's header was read and checked before the engine saw it
        sep=files.dialect.delimiter,
        quote='"',
        escape='"',
        # unset (NUL), Univocity drops every NUL of a quoted value that holds a line break or a
        # doubled quote; '"' reads every other value as before
        charToEscapeQuoteEscaping='"',
        encoding=_CHARSETS[encoding],
        mode="PERMISSIVE",
        columnNameOfCorruptRecord=_CORRUPT,
        unescapedQuoteHandling="RAISE_ERROR",
        multiLine=source.multiline,
        ignoreLeadingWhiteSpace=False,
        ignoreTrailingWhiteSpace=False,
    )
    columns = [F.col(f"`{name}`") for name in source.columns]
    # a short line's values come padded with nulls, and an empty value is null too: one blank
    # value is a line of blanks without a delimiter (which a tab delimiter is: see RULES)
    blank = columns[1].isNull() & F.coalesce(columns[0], F.lit("")).rlike(f"^{BLANK_LINE}\\z")
    if files.dialect.delimiter > " ":
        blank = blank & ~F.col(_CORRUPT).contains(files.dialect.delimiter)
    malformed = F.raise_error(F.concat(F.lit(MALFORMED), F.input_file_name()))
    wrong = F.col(_CORRUPT).isNotNull()
    keep = F.when(wrong, F.when(blank, F.lit(False)).otherwise(malformed))
    if encoding != "iso8859-1" and source.check_text:  # every byte is a Latin-1 character
        replaced = _any(column.contains("\ufffd") for column in columns)
        keep = keep.when(replaced, F.raise_error(F.concat(F.lit(NOT_TEXT), F.input_file_name())))
    return frame.where(keep.otherwise(F.lit(True))).select(*columns)


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
