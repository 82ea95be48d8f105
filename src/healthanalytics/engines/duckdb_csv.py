"""How the DuckDB engine reads a CSV input: the view over read_csv, and the scratch copies made
of files DuckDB cannot read as they are (bzip2, cp1252, mixed line endings).

DuckDB 1.5's reader takes a line with more fields than declared when the extra trailing fields
are empty (`SMITH, JR,` in a file whose last column is blank is read shifted), whatever its
strict_mode, null_padding or nullstr: the first extra value is matched against the null strings
by prefix, and an empty value prefixes any. So the view declares one column more than the
header, pads short lines with NULL, and reads empty fields as empty text (a null string no field
holds): a line has too many fields when that extra column is not NULL, too few when the header's
last column is NULL. Such a line stops the scan with `MALFORMED`, unless it is a blank-only
line (`BLANK_LINE`), which is skipped as Spark skips it; the empty fields become NULL again, as
the engines' readers agree.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import BinaryIO

from healthanalytics.io.csv_lines import BLANK_LINE, LONGEST_LINE
from healthanalytics.io.inputs import InputFiles

MALFORMED = "healthanalytics: a line with a wrong number of fields in "
_EXTRA = "__healthanalytics_extra"
_FILE = "__healthanalytics_file"
# the view's name for a column the header leaves unnamed (a trailing delimiter on every line):
# SQL has no empty identifier; such a column is an unknown extra one, carried and ignored
UNNAMED = "__healthanalytics_unnamed"
# read_csv's null string: a value no CSV field holds (it is matched by prefix)
_NO_NULL = "\x1e\x1fhealthanalytics-no-null\x1f\x1e"
_CHUNK = 16 * 1024 * 1024
# Python codec name -> read_csv's encoding, for the encodings DuckDB decodes itself
_NATIVE = {"utf-8": "utf-8", "iso8859-1": "latin-1"}


@dataclass
class CsvSource:
    """One CSV input read through a view: the files DuckDB reads (the inputs or their scratch
    copies) and how; the recovery steps change these and build the view again."""

    view: str
    files: InputFiles
    columns: tuple[str, ...]
    paths: list[str]
    originals: dict[str, str] = field(default_factory=dict)  # scratch copy -> input file
    transcoded: bool = False  # the copies are UTF-8
    normalised: bool = False  # the copies end every line with LF
    parallel: bool = True

    @property
    def encoding(self) -> str:
        return "utf-8" if self.transcoded else _NATIVE.get(self.files.dialect.encoding, "")

    def original(self, path: str) -> str:
        return self.originals.get(path, path)


def needs_copy(files: InputFiles) -> bool:
    """Whether DuckDB must read scratch copies: it reads no bzip2 and no cp1252."""
    return files.compression == "bz2" or files.dialect.encoding not in _NATIVE


def view_sql(source: CsvSource) -> str:
    """CREATE VIEW for the source: every header column as text under its name (UNNAMED for the
    one a header may leave unnamed), empty fields NULL, and a line with a wrong number of fields
    stopping the scan with MALFORMED and the file's name."""
    files = source.files
    # read under positional names, selected back under the header's: a header name need not be
    # a valid SQL identifier
    positional = [f"__healthanalytics_{index}" for index in range(1, len(source.columns) + 1)]
    declared = [*positional, _EXTRA]
    columns = ", ".join(f"{sql_string(name)}: 'VARCHAR'" for name in declared)
    compression = files.compression if files.compression and not source.originals else "auto"
    options = [
        f"columns={{{columns}}}",
        "header=true",
        f"delim={sql_string(files.dialect.delimiter)}",
        "quote='\"'",
        "escape='\"'",
        "auto_detect=false",
        f"compression={sql_string(compression)}",
        f"encoding={sql_string(source.encoding)}",
        "null_padding=true",
        f"nullstr={sql_string(_NO_NULL)}",
        f"filename={sql_string(_FILE)}",
        f"parallel={'true' if source.parallel else 'false'}",
        # DuckDB refuses a line of max_line_size bytes; the Spark engine applies the same limit
        f"max_line_size={LONGEST_LINE + 1}",
    ]
    paths = ", ".join(sql_path(path) for path in source.paths)
    values = ", ".join(
        f"NULLIF({_name(read)}, '') AS {_name(name or UNNAMED)}"
        for read, name in zip(positional, source.columns, strict=True)
    )
    wrong = f"{_name(_EXTRA)} IS NOT NULL OR {_name(positional[-1])} IS NULL"
    # one value of blanks only (`   `, a tab): skipped, as blank lines are; looked at only on
    # the lines that are wrong anyway
    blank = (
        f"{_name(positional[1])} IS NULL AND "
        f"regexp_full_match({_name(positional[0])}, {sql_string(BLANK_LINE)})"
    )
    return (
        f"CREATE OR REPLACE TEMPORARY VIEW {_name(source.view)} AS SELECT {values} "
        f"FROM read_csv([{paths}], {', '.join(options)}) "
        f"WHERE CASE WHEN {wrong} THEN CASE WHEN {blank} THEN false "
        f"ELSE error({sql_string(MALFORMED)} || {_name(_FILE)}) END ELSE true END"
    )


def copy_readable(
    files: InputFiles, source: BinaryIO, target: BinaryIO, *, transcode: bool, normalise: bool
) -> None:
    """The decompressed text of `source` written to `target`: as UTF-8 when `transcode`, with
    every line ending (CRLF, CR) as LF when `normalise`. Raises UnicodeDecodeError at the first
    byte that is not text in the declared encoding."""
    decoder = codecs.getincrementaldecoder(files.dialect.encoding)() if transcode else None
    held = b""  # a CR at a chunk's end may start a CRLF
    while True:
        chunk = source.read(_CHUNK)
        data = decoder.decode(chunk, final=not chunk).encode() if decoder else chunk
        if normalise:
            data = held + data
            held = b"\r" if chunk and data.endswith(b"\r") else b""
            data = data[: len(data) - len(held)].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        target.write(data)
        if not chunk:
            return


def sql_string(value: str) -> str:
    """`value` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_path(path: str) -> str:
    """A file's path as a literal for DuckDB's readers, which take every path as a glob: its
    `*`, `?` and `[` are written as one-character classes, so a file named `x[1].csv` is read,
    not `x1.csv` beside it (DuckDB reports the file by its own name)."""
    return sql_string(re.sub(r"[*?\[]", lambda found: f"[{found.group()}]", path))


def _name(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def csv_problem(text: str) -> str | None:
    """A DuckDB CSV error as `file: line N: what (the row); what to do`, or None."""
    line = re.search(r"CSV Error on Line: (\d+)", text)
    if not line:
        return None
    file = re.search(r"^\s*file\s*=\s*(.+)$", text, re.MULTILINE)
    columns = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    row = re.search(r"^Original Line: (.*)$", text, re.MULTILINE)
    # DuckDB states the problem after the row it quotes (which may run over several lines)
    # and before its advice and reader options
    told = re.split(r"\n\s*(?:Possible|file\s*=)", text[row.end() :] if row else "", maxsplit=1)
    reason = next((line.strip() for line in reversed(told[0].splitlines()) if line.strip()), "")
    what = f"expected {columns[1]} columns, found {columns[2]}" if columns else reason
    where = file[1].strip() if file else "fact file"
    shown = f" ({row[1].strip()[:120]})" if row else ""
    remedy = "save the file as UTF-8" if "utf-8" in what.lower() else "fix or remove that row"
    return f"{where}: line {line[1]}: {what or 'malformed row'}{shown}; {remedy}"
