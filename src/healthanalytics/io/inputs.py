"""Finding input files and reading a CSV header, before any engine touches the data."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import fsspec
import pyarrow as pa

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
class InputFiles:
    """One logical input: its part files, their format and compression."""

    source: str
    paths: tuple[str, ...]
    format: FileFormat
    compression: Compression


@dataclass(frozen=True)
class FactInput:
    """The prescriber fact input with its detected layout and full header."""

    files: InputFiles
    header: tuple[str, ...]
    layout: Layout


def bundled(name: str) -> str:
    """Path of a data file shipped inside the package."""
    return str(resources.files("healthanalytics") / "data" / name)


def _sniff(fs: fsspec.AbstractFileSystem, path: str) -> tuple[FileFormat, Compression]:
    with fs.open(path, "rb") as handle:
        head = handle.read(4)
    for magic, fmt, compression in _MAGIC:
        if head.startswith(magic):
            return fmt, compression
    return "csv", None


def resolve_input(source: str, role: str) -> InputFiles:
    """The files behind `source` (one file or a folder of part files), format from magic bytes."""
    fs, root = fsspec.core.url_to_fs(source)
    protocol = source.split("://", 1)[0] if "://" in source else None
    try:
        is_dir = fs.isdir(root)
        if not is_dir and not fs.isfile(root):
            raise InputError(f"{role} file not found: {source} — check the path or pass --{role}.")
    except OSError as err:
        raise InputError(f"{role} input {source} cannot be read: {err}") from err
    if is_dir:
        parts = sorted(
            p for p in fs.find(root) if not Path(p).name.startswith(("_", ".")) and fs.size(p) > 0
        )
        if not parts:
            raise InputError(f"{role} folder {source} holds no data files.")
    else:
        parts = [root]
    kinds = {_sniff(fs, p) for p in parts}
    if len(kinds) > 1:
        raise InputError(f"{role} folder {source} mixes file formats: {sorted(map(str, kinds))}.")
    fmt, compression = kinds.pop()
    full = tuple(f"{protocol}://{p}" if protocol and "://" not in p else p for p in parts)
    return InputFiles(source, full, fmt, compression)


def _first_line(stream: pa.NativeFile, chunk: int = 64 * 1024, limit: int = 16 << 20) -> bytes:
    head = b""
    while b"\n" not in head and len(head) < limit:
        more = stream.read(chunk)
        if not more:
            break
        head += more
    return head.split(b"\n", 1)[0].rstrip(b"\r")


def read_csv_header(files: InputFiles) -> tuple[str, ...]:
    """The header row of the first part file, parsed as CSV (comma, double-quote)."""
    first = files.paths[0]
    try:
        with fsspec.open(first, "rb") as raw:
            stream = pa.PythonFile(raw, mode="r")
            if files.compression:  # pyarrow's codecs: fsspec's zstd would need another package
                stream = pa.CompressedInputStream(stream, files.compression)
            line = _first_line(stream).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, pa.ArrowException) as err:
        raise InputError(f"cannot read the header of {first}: {err}") from err
    row = next(csv.reader([line]), [])
    header = tuple(name.strip().lstrip("\ufeff") for name in row)
    if not any(header):
        raise InputError(f"{first} is empty or has no header row.")
    return header


def read_header(files: InputFiles) -> tuple[str, ...]:
    """Column names of the input: the Parquet schema or the CSV header row."""
    if files.format == "csv":
        return read_csv_header(files)
    import pyarrow.parquet as pq

    try:
        with fsspec.open(files.paths[0], "rb") as handle:
            return tuple(pq.read_schema(handle).names)
    except (OSError, ValueError) as err:
        raise InputError(f"{files.paths[0]} is not a readable Parquet file: {err}") from err


def open_fact(source: str) -> FactInput:
    """Resolve the fact input, read its header and detect the layout."""
    files = resolve_input(source, "fact")
    header = read_header(files)
    return FactInput(files, header, detect_layout(header, source=source))


def open_cities(source: str) -> tuple[InputFiles, tuple[str, ...]]:
    """Resolve the city dimension input and check its columns."""
    files = resolve_input(source, "city")
    header = read_header(files)
    check_city_header(header, source=source)
    return files, header
