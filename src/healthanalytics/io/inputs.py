"""Finding input files and reading their header, before the engine reads the data.

Files are listed and opened through the `FileAccess` the engine hands over (see io/files.py).
What a file's first bytes and header tell is checked here, so that a file the engines would
misread, or refuse blaming something else, is refused naming its real cause: an archive or a
workbook, UTF-16 text, another delimiter, a column named twice, a header without data rows.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from itertools import zip_longest
from pathlib import PurePosixPath
from typing import Literal

import pyarrow as pa

from healthanalytics.errors import first_line
from healthanalytics.io.files import LOCAL_FILES, FileAccess, FileEntry
from healthanalytics.layouts import (
    Layout,
    LayoutError,
    check_city_header,
    column_key,
    detect_layout,
)

FileFormat = Literal["csv", "parquet"]
Compression = Literal["gzip", "bz2", "zstd"] | None

_MAGIC: tuple[tuple[bytes, FileFormat, Compression], ...] = (
    (b"PAR1", "parquet", None),
    (b"\x1f\x8b", "csv", "gzip"),
    (b"BZh", "csv", "bz2"),
    (b"\x28\xb5\x2f\xfd", "csv", "zstd"),
)
COMPRESSION_NAMES = {"gzip": "gzip", "bz2": "bzip2", "zstd": "zstd"}
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")  # an archive's first entry; an empty archive
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an Excel 97-2003 workbook (.xls)
# other archives and compressions, which neither engine reads: (magic, what it is, what to do)
_UNREAD: tuple[tuple[bytes, str, str], ...] = (
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "extract it"),
    (b"Rar!\x1a\x07", "a RAR archive", "extract it"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it (xz -d) or compress it with gzip"),
    (b"\x04\x22\x4d\x18", "LZ4-compressed", "decompress it (lz4 -d) or compress it with gzip"),
)
_UTF8_BOM = b"\xef\xbb\xbf"
# the delimiters a header is tried with when it does not fit the declared one
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}


class InputError(ValueError):
    """An input that cannot be used; the message names the file and what to do."""


class CorruptInputError(InputError):
    """An input part that is cut short or corrupt: its data cannot be read to its end."""


def compressed_stream_error(
    path: str, compression: Compression, err: BaseException
) -> CorruptInputError:
    """The one line for a compressed stream that cannot be read to its end: truncated when the
    data stops before the stream's end marker, corrupt otherwise (a bad block or checksum, or
    bytes after the end that are not another stream)."""
    kind = COMPRESSION_NAMES.get(compression or "", compression)
    reason = first_line(str(err)) or type(err).__name__
    if isinstance(err, EOFError) or "truncated" in reason.lower():
        return CorruptInputError(
            f"{path} is truncated or corrupt: its {kind} data ends before the end of the "
            "compressed stream (an interrupted download or copy?); download or copy the file again"
        )
    return CorruptInputError(
        f"{path} is corrupt: its {kind} data cannot be decompressed ({reason}); download or "
        "copy the file again"
    )


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV input is written: the field delimiter and the text encoding (a Python codec
    name). Quoting is always RFC 4180: `"` quotes, `""` inside quoted fields."""

    delimiter: str = ","
    encoding: str = "utf-8"


@dataclass(frozen=True)
class InputFiles:
    """One logical input: its part files, their format, compression, total size in bytes and,
    for CSV, the declared dialect."""

    source: str
    paths: tuple[str, ...]
    format: FileFormat
    compression: Compression
    size: int
    dialect: CsvDialect = CsvDialect()


@dataclass(frozen=True)
class FactInput:
    """The prescriber fact input with its detected layout and full header."""

    files: InputFiles
    header: tuple[str, ...]
    layout: Layout


def bundled(name: str) -> str:
    """Path of a data file shipped inside the package."""
    return str(resources.files("healthanalytics") / "data" / name)


def _sniff(access: FileAccess, path: str, role: str) -> tuple[FileFormat, Compression]:
    with access.open(path) as handle:
        head = handle.read(8)
        for magic, fmt, compression in _MAGIC:
            if head.startswith(magic):
                return fmt, compression
        if head.startswith(_OLE2) or (head.startswith(_ZIP) and _is_workbook(handle)):
            raise InputError(
                f"{path} is an Excel workbook, not a CSV file: export the sheet as CSV (Excel: "
                f"Save As, CSV UTF-8) and point --{role} at that file."
            )
    if head.startswith(_ZIP):
        raise InputError(
            f"{path} is a zip archive: unzip it and point --{role} at the CSV or Parquet file "
            "inside."
        )
    for magic, what, remedy in _UNREAD:
        if head.startswith(magic):
            raise InputError(
                f"{path} is {what}, which is not read: {remedy}, and point --{role} at the "
                "CSV or Parquet file."
            )
    return "csv", None


def _is_workbook(handle) -> bool:
    """Whether a zip archive is an Excel workbook (.xlsx, .xlsm): it holds an xl/ folder."""
    try:
        handle.seek(0)
        return any(name.startswith("xl/") for name in zipfile.ZipFile(handle).namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False  # a damaged archive is still an archive


def _data_files(access: FileAccess, source: str, role: str) -> list[FileEntry]:
    entry = access.stat(source)
    if not entry.is_dir:
        return [entry]
    parts = sorted(
        (
            found
            for found in access.list_files(source)
            if not PurePosixPath(found.path).name.startswith(("_", ".")) and found.size > 0
        ),
        key=lambda found: found.path,
    )
    if not parts:
        raise InputError(
            f"{role} folder {source} holds no data files (empty files and names starting with "
            f"_ or . are skipped): point --{role} at the data or a folder of its part files."
        )
    return parts


def resolve_input(
    source: str, role: str, access: FileAccess = LOCAL_FILES, dialect: CsvDialect = CsvDialect()
) -> InputFiles:
    """The files behind `source` (one file or a folder of part files), format from magic bytes;
    `dialect` is how its CSV parts are written."""
    try:
        parts = _data_files(access, source, role)
        kinds: dict[tuple[FileFormat, Compression], str] = {}  # kind -> its first part
        for part in parts:
            kinds.setdefault(_sniff(access, part.path, role), part.path)
    except FileNotFoundError as err:
        raise InputError(
            f"{role} file not found: {source} — check the path or pass --{role}."
        ) from err
    except PermissionError as err:
        raise InputError(
            f"{role} input {source} is not readable: permission denied ({first_line(str(err))}); "
            "grant read access to the user running the pipeline."
        ) from err
    except OSError as err:
        raise InputError(f"{role} input {source} cannot be read: {first_line(str(err))}") from err
    if len(kinds) > 1:
        raise _mixed_parts(source, role, kinds)
    ((fmt, compression),) = kinds
    paths = tuple(part.path for part in parts)
    return InputFiles(source, paths, fmt, compression, sum(part.size for part in parts), dialect)


def _mixed_parts(
    source: str, role: str, kinds: dict[tuple[FileFormat, Compression], str]
) -> InputError:
    """The one line for a folder whose parts are not all of one format and compression,
    naming a part of each kind, in the order the parts are read."""

    def kind(fmt: FileFormat, compression: Compression) -> str:
        if fmt == "parquet":
            return "Parquet"
        return f"{COMPRESSION_NAMES[compression]}-compressed CSV" if compression else "plain CSV"

    found = [f"{kind(*k)} ({PurePosixPath(path).name})" for k, path in kinds.items()]
    listed = ", ".join(found[:-1]) + " and " + found[-1]
    if all(fmt == "csv" for fmt, _ in kinds):
        remedy = "compress or decompress the parts alike"
    else:
        remedy = "convert the parts to one format"
    return InputError(
        f"{role} folder {source} mixes {listed} parts: every part must be of one format and "
        f"compression; {remedy}, or give them separate folders."
    )


@dataclass(frozen=True)
class _Head:
    """What a part file starts with: its column names, its header line as text (CSV only)
    and whether any data follows the header."""

    names: tuple[str, ...]
    line: str | None
    has_rows: bool
    types: tuple[pa.DataType, ...] = ()  # Parquet's column types (CSV: none)


def _read_head(
    stream: pa.NativeFile, chunk: int = 64 * 1024, limit: int = 16 << 20
) -> tuple[bytes, bool]:
    """The first line's bytes (its line break, LF, CRLF or CR, dropped) and whether anything but
    blanks and line breaks follows it; reads on only past blank lines."""
    head = b""
    while (end := _line_end(head)) is None and len(head) < limit:
        more = stream.read(chunk)
        if not more:
            break
        head += more
    end = len(head) if end is None else end
    line, rest = head[:end], head[end:]  # rest starts with the line break: a blank
    while not rest.strip():
        rest = stream.read(chunk)
        if not rest:
            return line, False
    return line, True


def _line_end(head: bytes) -> int | None:
    """Where the first line of `head` ends (at its first LF or CR), None when it holds neither."""
    ends = [at for at in (head.find(b"\n"), head.find(b"\r")) if at >= 0]
    return min(ends) if ends else None


def _decode_header(line: bytes, path: str, encoding: str, role: str) -> str:
    """The header line as text, a UTF-8 byte-order mark dropped; InputError for what the
    engines would misread: UTF-16/32 text, a tar archive, NUL bytes, bytes invalid in the
    declared encoding, a web page."""
    utf = _utf16_or_32(line)
    if utf is not None:
        raise InputError(
            f"{path} is {utf}: save it as UTF-8 (Excel: Save As, CSV UTF-8) or convert it "
            f"(iconv -f {utf.split()[0]} -t UTF-8), then run again."
        )
    if line[257:262] == b"ustar":  # a tar header, compressed or not
        raise InputError(
            f"{path} is a tar archive: extract it (tar -xf) and point --{role} at the CSV or "
            "Parquet file inside."
        )
    if b"\0" in line:
        raise InputError(f"{path}: its header holds NUL bytes: it is not a text CSV file.")
    shown = _ENCODING_NAMES.get(encoding, encoding)
    if line.startswith(_UTF8_BOM) and encoding != "utf-8":
        raise InputError(
            f"{path} starts with a UTF-8 byte-order mark, so it is UTF-8 text, not {shown}: "
            "drop --encoding (UTF-8 is the default)."
        )
    try:
        text = line.removeprefix(_UTF8_BOM).decode(encoding)
    except UnicodeDecodeError as err:
        byte = err.object[err.start]
        if role != "fact":
            remedy = "save it as UTF-8"
        elif encoding == "utf-8":
            remedy = (
                "pass --encoding latin-1 or --encoding cp1252 if it was written so, or save it "
                "as UTF-8"
            )
        else:
            remedy = "pass the encoding it was written in with --encoding, or save it as UTF-8"
        raise InputError(
            f"{path}: its header is not valid {shown} text (byte 0x{byte:02x} at byte "
            f"{err.start + 1}); {remedy}."
        ) from err
    # what a failed download saves in place of the file
    if text.lstrip().lower().startswith(("<!doctype html", "<html")):
        raise InputError(
            f"{path} is a web page (HTML), not CSV: the download most likely failed; download "
            "the file again."
        )
    return text


_ENCODING_NAMES = {"utf-8": "UTF-8", "iso8859-1": "Latin-1", "cp1252": "Windows-1252"}


def _utf16_or_32(line: bytes) -> str | None:
    """`UTF-16...` or `UTF-32...` (the iconv name, then how it shows) when the line is written
    so, else None."""
    for bom, name in (
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\x00\x00\xfe\xff", "UTF-32"),
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
    ):
        if line.startswith(bom):
            return f"{name} text (byte-order mark {bom.hex(' ').upper()})"
    # ASCII names in UTF-16 without a byte-order mark: every other byte is zero
    sample = line[:256]
    odd, even = sample[1::2], sample[0::2]
    if len(odd) >= 2 and odd.count(0) >= 0.9 * len(odd) and not even.count(0):
        return "UTF-16LE text (every other byte is zero)"
    if len(odd) >= 2 and even.count(0) >= 0.9 * len(even) and not odd.count(0):
        return "UTF-16BE text (every other byte is zero)"
    return None


def _csv_head(files: InputFiles, path: str, access: FileAccess, role: str) -> _Head:
    """The header row of one part file, parsed with the declared dialect."""
    try:
        with access.open(path) as raw:
            stream = pa.PythonFile(raw, mode="r")
            if files.compression:  # pyarrow's codecs: fsspec's zstd would need another package
                stream = pa.CompressedInputStream(stream, files.compression)
            line, has_rows = _read_head(stream)
    except (OSError, EOFError, pa.ArrowException) as err:
        if files.compression:
            raise compressed_stream_error(path, files.compression, err) from err
        raise InputError(f"cannot read the header of {path}: {err}") from err
    text = _decode_header(line, path, files.dialect.encoding, role)
    row = next(csv.reader([text], delimiter=files.dialect.delimiter), [])
    names = tuple(name.strip() for name in row)
    if not any(names):
        raise InputError(f"{path} is empty or has no header row.")
    return _Head(names, text, has_rows)


def _parquet_head(path: str, access: FileAccess) -> _Head:
    import pyarrow.parquet as pq

    try:
        with access.open(path) as handle:
            meta = pq.read_metadata(handle)
    except (OSError, ValueError) as err:
        # it starts as Parquet (that is how it was recognised): its end is missing or damaged
        raise CorruptInputError(
            f"{path} is truncated or corrupt: it starts as a Parquet file but its footer cannot "
            f"be read ({first_line(str(err))}); download or copy the file again"
        ) from err
    schema = meta.schema.to_arrow_schema()
    return _Head(tuple(schema.names), None, meta.num_rows > 0, tuple(schema.types))


def _read_heads(files: InputFiles, access: FileAccess, role: str) -> list[_Head]:
    """Each part's head, checked: every part starts with the same one (the engines read CSV
    parts by position, and take one schema for all the parts), no column is named twice, and
    some part has data."""
    heads = [
        _csv_head(files, path, access, role)
        if files.format == "csv"
        else _parquet_head(path, access)
        for path in files.paths
    ]
    first = files.paths[0]
    for path, head in zip(files.paths[1:], heads[1:], strict=True):
        if head.names != heads[0].names:
            position, theirs, ours = next(
                (i, a, b)
                for i, (a, b) in enumerate(
                    zip_longest(head.names, heads[0].names, fillvalue=""), start=1
                )
                if a != b
            )
            raise InputError(
                f"{path}: its header differs from that of {first} at column {position} "
                f"({theirs!r} instead of {ours!r}); every part file must start with the same "
                "header row, its columns in the same order."
            )
    _check_unique(heads[0].names, files.source)
    if not any(head.has_rows for head in heads):
        what = "a header but no data rows" if files.format == "csv" else "columns but no rows"
        where = f"{files.source} has" if len(heads) == 1 else f"{files.source}: its parts have"
        raise InputError(
            f"{where} {what}: there is nothing to load; check the export or download that made it."
        )
    return heads


def _read_head_of(files: InputFiles, access: FileAccess, role: str) -> _Head:
    return _read_heads(files, access, role)[0]


def _check_unique(names: tuple[str, ...], source: str) -> None:
    """InputError naming a column the header names twice, compared as the layout detection
    compares names (trimmed, any case): the engines could not tell the copies apart."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        key = column_key(name)
        if key not in seen:
            seen[key] = position
            continue
        earlier = seen[key]
        if not key:
            raise InputError(
                f"{source}: its header has more than one column without a name (columns "
                f"{earlier} and {position}); name them or remove them."
            )
        spelled = "" if names[earlier - 1] == name else f": {names[earlier - 1]!r}, {name!r}"
        raise InputError(
            f"{source}: its header names the column {name!r} twice (columns {earlier} and "
            f"{position}{spelled}); rename or remove one of them."
        )


def read_header(
    files: InputFiles, access: FileAccess = LOCAL_FILES, role: str = "fact"
) -> tuple[str, ...]:
    """Column names of the input: the Parquet schema or the CSV header row. InputError when a
    part's header differs from the first part's, a column is named twice, no part has data,
    or the text is not what the dialect declares (UTF-16, invalid bytes, NUL bytes)."""
    return _read_head_of(files, access, role).names


def _other_delimiter(
    head: _Head, declared: str, fits: Callable[[tuple[str, ...]], bool]
) -> str | None:
    """The delimiter (of DELIMITER_NAMES) on which the header line splits into columns that
    `fits` accepts, when the declared one gave columns it did not."""
    if head.line is None:
        return None
    for delimiter in DELIMITER_NAMES:
        if delimiter == declared:
            continue
        names = tuple(name.strip() for name in next(csv.reader([head.line], delimiter=delimiter)))
        if len(names) > 1 and fits(names):
            return delimiter
    return None


def _fits(check: Callable[[tuple[str, ...]], object]) -> Callable[[tuple[str, ...]], bool]:
    def fits(names: tuple[str, ...]) -> bool:
        try:
            check(names)
        except LayoutError:
            return False
        return True

    return fits


def open_fact(
    source: str, access: FileAccess = LOCAL_FILES, dialect: CsvDialect = CsvDialect()
) -> FactInput:
    """Resolve the fact input, read its header and detect the layout. A header that fits a
    layout only when split on another delimiter is refused naming that delimiter."""
    files = resolve_input(source, "fact", access, dialect)
    heads = _read_heads(files, access, "fact")
    head = heads[0]
    try:
        layout = detect_layout(head.names, source=source)
    except LayoutError as err:
        found = _other_delimiter(head, dialect.delimiter, _fits(detect_layout))
        if found is None:
            raise
        option = "tab" if found == "\t" else repr(found)
        raise InputError(
            f"{source} is {DELIMITER_NAMES[found]}-delimited, not "
            f"{DELIMITER_NAMES.get(dialect.delimiter, repr(dialect.delimiter))}-delimited: "
            f"pass --delimiter {option}."
        ) from err
    for path, part in zip(files.paths, heads, strict=True):
        _check_npi_type(part, layout, path)
    return FactInput(files, head.names, layout)


def _check_npi_type(head: _Head, layout: Layout, source: str) -> None:
    """InputError for a Parquet NPI column of 32- or 16-bit floats: they hold 7 or 3 digits,
    so a 10-digit NPI was rounded, perhaps to another valid NPI, when the file was written.
    Other typed columns are read by value (`transforms.staging.as_text`)."""
    if not head.types or (column := layout.columns.get("npi")) is None:
        return
    dtype = head.types[head.names.index(column)]
    if pa.types.is_float32(dtype) or pa.types.is_float16(dtype):
        raise InputError(
            f"{source}: its NPI column {column!r} is {dtype} (a {dtype.bit_width}-bit float), "
            "which cannot hold a 10-digit NPI exactly, so the NPIs were rounded when it was "
            "written; write the NPI as an integer or text column."
        )


def open_cities(
    source: str, access: FileAccess = LOCAL_FILES
) -> tuple[InputFiles, tuple[str, ...]]:
    """Resolve the city dimension input and check its columns (it is always read as
    comma-delimited UTF-8)."""
    files = resolve_input(source, "city", access)
    head = _read_head_of(files, access, "city")
    try:
        check_city_header(head.names, source=source)
    except LayoutError as err:
        found = _other_delimiter(head, files.dialect.delimiter, _fits(check_city_header))
        if found is None:
            raise
        raise InputError(
            f"{source} is {DELIMITER_NAMES[found]}-delimited: the city dimension is read as "
            "comma-delimited; save it as a comma-separated CSV."
        ) from err
    return files, head.names
