"""Finding input files and reading their header, before the engine reads the data.

Files are listed and opened through the `FileAccess` the engine hands over (see io/files.py).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from itertools import zip_longest
from pathlib import PurePosixPath
from typing import Literal

import pyarrow as pa

from healthanalytics.errors import first_line
from healthanalytics.io.files import LOCAL_FILES, FileAccess, FileEntry
from healthanalytics.layouts import Layout, check_city_header, detect_layout

FileFormat = Literal["csv", "parquet"]
Compression = Literal["gzip", "bz2", "zstd"] | None

_MAGIC: tuple[tuple[bytes, FileFormat, Compression], ...] = (
    (b"PAR1", "parquet", None),
    (b"\x1f\x8b", "csv", "gzip"),
    (b"BZh", "csv", "bz2"),
    (b"\x28\xb5\x2f\xfd", "csv", "zstd"),
)


class InputError(ValueError):
    """An input that cannot be used; the message names the file and what to do."""


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


def _sniff(access: FileAccess, path: str) -> tuple[FileFormat, Compression]:
    with access.open(path) as handle:
        head = handle.read(4)
    for magic, fmt, compression in _MAGIC:
        if head.startswith(magic):
            return fmt, compression
    return "csv", None


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
        kinds = {_sniff(access, part.path) for part in parts}
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
        raise InputError(f"{role} folder {source} mixes file formats: {sorted(map(str, kinds))}.")
    fmt, compression = kinds.pop()
    paths = tuple(part.path for part in parts)
    return InputFiles(source, paths, fmt, compression, sum(part.size for part in parts), dialect)


def _read_first_line(stream: pa.NativeFile, chunk: int = 64 * 1024, limit: int = 16 << 20) -> bytes:
    head = b""
    while b"\n" not in head and len(head) < limit:
        more = stream.read(chunk)
        if not more:
            break
        head += more
    return head.split(b"\n", 1)[0].rstrip(b"\r")


def _csv_header(files: InputFiles, path: str, access: FileAccess) -> tuple[str, ...]:
    """The header row of one part file, parsed as CSV (comma, double-quote)."""
    try:
        with access.open(path) as raw:
            stream = pa.PythonFile(raw, mode="r")
            if files.compression:  # pyarrow's codecs: fsspec's zstd would need another package
                stream = pa.CompressedInputStream(stream, files.compression)
            line = _read_first_line(stream).decode(files.dialect.encoding)
    except (OSError, EOFError, UnicodeDecodeError, pa.ArrowException) as err:
        raise InputError(f"cannot read the header of {path}: {err}") from err
    row = next(csv.reader([line], delimiter=files.dialect.delimiter), [])
    header = tuple(name.strip().lstrip("\ufeff") for name in row)
    if not any(header):
        raise InputError(f"{path} is empty or has no header row.")
    return header


def _parquet_header(path: str, access: FileAccess) -> tuple[str, ...]:
    import pyarrow.parquet as pq

    try:
        with access.open(path) as handle:
            return tuple(pq.read_schema(handle).names)
    except (OSError, ValueError) as err:
        raise InputError(f"{path} is not a readable Parquet file: {err}") from err


def read_header(files: InputFiles, access: FileAccess = LOCAL_FILES) -> tuple[str, ...]:
    """Column names of the input: the Parquet schema or the CSV header row. Every part file
    must have the same names in the same order: the engines read CSV parts by position, and
    take one schema for all the parts."""
    headers = [
        _csv_header(files, path, access) if files.format == "csv" else _parquet_header(path, access)
        for path in files.paths
    ]
    first = files.paths[0]
    for path, header in zip(files.paths[1:], headers[1:], strict=True):
        if header != headers[0]:
            position, theirs, ours = next(
                (i, a, b)
                for i, (a, b) in enumerate(zip_longest(header, headers[0], fillvalue=""), start=1)
                if a != b
            )
            raise InputError(
                f"{path}: its header differs from that of {first} at column {position} "
                f"({theirs!r} instead of {ours!r}); every part file must start with the same "
                "header row, its columns in the same order."
            )
    return headers[0]


def open_fact(
    source: str, access: FileAccess = LOCAL_FILES, dialect: CsvDialect = CsvDialect()
) -> FactInput:
    """Resolve the fact input, read its header and detect the layout."""
    files = resolve_input(source, "fact", access, dialect)
    header = read_header(files, access)
    return FactInput(files, header, detect_layout(header, source=source))


def open_cities(
    source: str, access: FileAccess = LOCAL_FILES
) -> tuple[InputFiles, tuple[str, ...]]:
    """Resolve the city dimension input and check its columns."""
    files = resolve_input(source, "city", access)
    header = read_header(files, access)
    check_city_header(header, source=source)
    return files, header
