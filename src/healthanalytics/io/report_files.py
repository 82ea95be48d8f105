"""Report folders: part files in the configured format, `_SUCCESS` last, all or nothing."""

from __future__ import annotations

import json
import logging
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.orc as orc
import pyarrow.parquet as pq

from healthanalytics.io.files import LOCAL_FILES, FileAccess, join_path, split_path

SUCCESS = "_SUCCESS"

log = logging.getLogger(__name__)

# format -> compression names accepted (None = uncompressed), as the user writes them
COMPRESSIONS: dict[str, tuple[str | None, ...]] = {
    "json": (None, "bzip2", "gzip", "zstd"),
    "csv": (None, "bzip2", "gzip", "zstd"),
    "parquet": (None, "snappy", "gzip", "zstd"),
    "orc": (None, "snappy", "zlib", "zstd", "lz4"),
}
_STREAM_CODEC = {"bzip2": "bz2", "gzip": "gzip", "zstd": "zstd"}
_SUFFIX = {"bzip2": ".bz2", "gzip": ".gz", "zstd": ".zst"}


class ReportFileError(RuntimeError):
    """A report folder could not be written."""


def run_tag() -> str:
    """The random tag that makes one run's temporary names its own."""
    return uuid.uuid4().hex[:8]


def staging_name(name: str, tag: str) -> str:
    """The hidden sibling a report folder (or file) `name` is written under: `.NAME.tmp-TAG`."""
    return f".{name}.tmp-{tag}"


def retired_name(name: str, tag: str) -> str:
    """Where the earlier report `name` is set aside while the new one moves in."""
    return f".{name}.old-{tag}"


# what staging_name / retired_name make (Hadoop's local file system may add a .crc beside)
_DEBRIS = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<tag>[0-9a-f]{8})(?:\.crc)?$")
# the one temporary name earlier releases gave every run
_EARLIER_DEBRIS = re.compile(r"^\.quality_checks\.json\.tmp(?:\.crc)?$")


def check_format(fmt: str, compression: str | None) -> None:
    """Raise ValueError for a format/compression pair no writer offers."""
    if fmt not in COMPRESSIONS:
        raise ValueError(f"unknown report format {fmt!r}: choose one of {', '.join(COMPRESSIONS)}")
    if compression not in COMPRESSIONS[fmt]:
        offered = ", ".join(c or "none" for c in COMPRESSIONS[fmt])
        raise ValueError(f"{fmt} reports cannot use {compression!r} compression: choose {offered}")


def part_name(index: int, fmt: str, compression: str | None) -> str:
    """Spark-style part file name, e.g. part-00000.json.bz2."""
    suffix = _SUFFIX.get(compression or "", "") if fmt in ("json", "csv") else ""
    return f"part-{index:05d}.{fmt}{suffix}"


@dataclass(frozen=True)
class StagedFolder:
    """A report folder being written: `path`, a hidden sibling of `dest`, is filled by a writer
    and later either published in place of `dest` or discarded. `dest` is a local path or a URI
    that `files` reaches: the folders are checked, moved and removed through it."""

    dest: str
    files: FileAccess = LOCAL_FILES
    tag: str = field(default_factory=run_tag)

    @property
    def path(self) -> str:
        parent, name = split_path(self.dest)
        return join_path(parent, staging_name(name, self.tag))

    def publish(self) -> None:
        """Replace `dest` by the staging folder; a ReportFileError when the writer left no
        `_SUCCESS` marker in it. A failed move puts the earlier report back."""
        files, dest = self.files, self.dest
        if not files.exists(join_path(self.path, SUCCESS)):
            raise ReportFileError(f"{dest}: the writer finished without a {SUCCESS} marker")
        parent, name = split_path(dest)
        retired = join_path(parent, retired_name(name, self.tag))
        replacing = files.exists(dest)
        if replacing:
            files.rename(dest, retired)
        try:
            files.rename(self.path, dest)
        except BaseException:
            if replacing:  # put the earlier report back rather than leave no report at all
                with suppress(OSError):  # a part-done move (object stores copy) is incomplete
                    files.remove(dest)
                with suppress(OSError):  # must not hide the error of the move
                    files.rename(retired, dest)
            raise
        with suppress(OSError):  # the new report is in place; a leftover is only untidy
            files.remove(retired)

    def discard(self) -> None:
        """Remove the staging folder if it is still there (nothing once published)."""
        with suppress(OSError):  # must not hide the error that stopped the writer
            self.files.remove(self.path)


@contextmanager
def staged_folder(dest: str, files: FileAccess = LOCAL_FILES) -> Iterator[str]:
    """A staging folder for the block to fill, published in place of `dest` only if the block
    completes (see StagedFolder); removed in any case."""
    folder = StagedFolder(dest, files)
    try:
        yield folder.path
        folder.publish()
    finally:
        folder.discard()


def remove_stale_staging(folder: str) -> list[str]:
    """Remove from the local `folder` what stopped runs left (`.NAME.tmp-TAG` staging folders
    and files, `.NAME.old-TAG` set-aside reports, and the `.quality_checks.json.tmp` of earlier
    releases); returns what was removed or restored.

    Only for a caller holding the folder's run lock: every such name then belongs to a run that
    is gone. A report set aside with nothing under its own name means a run stopped between its
    two moves, which come after its load committed: its complete staging folder of the same tag
    moves in (it is what the database holds); without one, the set-aside report is put back."""
    root = Path(folder)
    try:
        entries = sorted(root.iterdir())
    except FileNotFoundError:
        return []
    found = {
        entry.name: _DEBRIS.match(entry.name) or _EARLIER_DEBRIS.match(entry.name)
        for entry in entries
    }
    done: list[str] = []
    for entry_name, match in found.items():
        if not match or match.groupdict().get("kind") != "old" or (root / match["name"]).exists():
            continue
        staged = root / staging_name(match["name"], match["tag"])
        source = staged if (staged / SUCCESS).exists() else root / entry_name
        try:
            source.rename(root / match["name"])
        except OSError as err:  # a leftover is untidy, not a reason to stop this run
            log.warning("could not restore %s from %s: %s", match["name"], source, err)
            continue
        log.warning("restored %s from %s, left by a stopped run", match["name"], source.name)
        done.append(f"restored {match['name']} from {source.name}")
    for entry_name, match in found.items():
        path = root / entry_name
        if not match or not (path.exists() or path.is_symlink()):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as err:
            log.warning("could not remove %s, left by a stopped run: %s", path, err)
            continue
        log.warning("removed %s, left by a stopped run", path)
        done.append(f"removed {entry_name}")
    return done


def write_report_files(
    table: pa.Table, dest: Path | str, fmt: str, compression: str | None, files: int
) -> list[Path]:
    """Write `table` as `files` part files under the local folder `dest`, staged beside it and
    moved in whole (replacing an earlier report); returns the parts."""
    check_format(fmt, compression)
    dest = Path(dest)
    with staged_folder(str(dest)) as folder:
        names = write_report_parts(table, folder, fmt, compression, files)
    return [dest / name for name in names]


def write_report_parts(
    table: pa.Table,
    folder: str,
    fmt: str,
    compression: str | None,
    files: int,
    access: FileAccess = LOCAL_FILES,
) -> list[str]:
    """Write `table` as `files` part files into `folder` (a local path or a URI that `access`
    reaches: an s3:// prefix is written through s3fs), `_SUCCESS` last; returns the part
    names. The folder is the caller's staging place: nothing here makes the parts visible
    all at once, and a failure leaves what was written for the caller to discard."""
    check_format(fmt, compression)
    writer = _WRITERS[fmt]
    names = []
    for index, part in enumerate(_split(table, files)):
        name = part_name(index, fmt, compression)
        with access.create(join_path(folder, name)) as raw:
            writer(part, pa.PythonFile(raw, mode="w"), compression)
        names.append(name)
    with access.create(join_path(folder, SUCCESS)):
        pass
    return names


def _split(table: pa.Table, files: int) -> Iterator[pa.Table]:
    """`files` contiguous slices of near-equal size (some may be empty)."""
    size, extra = divmod(table.num_rows, files)
    offset = 0
    for index in range(files):
        length = size + (1 if index < extra else 0)
        yield table.slice(offset, length)
        offset += length


def _open_text(sink: pa.NativeFile, compression: str | None) -> pa.NativeFile:
    if compression is None:
        return sink
    return pa.CompressedOutputStream(sink, _STREAM_CODEC[compression])


def _json_value(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _write_json(table: pa.Table, sink: pa.NativeFile, compression: str | None) -> None:
    with _open_text(sink, compression) as out:
        for batch in table.to_batches(max_chunksize=50_000):
            lines = (
                json.dumps(row, default=_json_value, ensure_ascii=False, allow_nan=False)
                for row in batch.to_pylist()
            )
            out.write("".join(f"{line}\n" for line in lines).encode())


def _write_csv(table: pa.Table, sink: pa.NativeFile, compression: str | None) -> None:
    with _open_text(sink, compression) as out:
        pacsv.write_csv(table, out)


def _write_parquet(table: pa.Table, sink: pa.NativeFile, compression: str | None) -> None:
    pq.write_table(table, sink, compression=compression or "none")


def _write_orc(table: pa.Table, sink: pa.NativeFile, compression: str | None) -> None:
    orc.write_table(table, sink, compression=compression or "uncompressed")


_WRITERS: dict[str, Callable[[pa.Table, pa.NativeFile, str | None], None]] = {
    "json": _write_json,
    "csv": _write_csv,
    "parquet": _write_parquet,
    "orc": _write_orc,
}


def read_report_files(folder: Path) -> pa.Table:
    """All part files of a finished report folder as one table (for checks and tests)."""
    folder = Path(folder)
    if not (folder / SUCCESS).exists():
        raise ReportFileError(f"{folder}: no {SUCCESS} marker, the report is incomplete")
    tables = [_read_part(path) for path in sorted(folder.glob("part-*"))]
    tables = [t for t in tables if t is not None]
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


def _read_part(path: Path) -> pa.Table | None:
    name = path.name
    codec = next((c for c, s in _SUFFIX.items() if name.endswith(s)), None)
    if ".json" in name:
        with pa.input_stream(str(path), compression=_STREAM_CODEC.get(codec or "")) as src:
            rows = [json.loads(line) for line in src.read().decode().splitlines() if line]
        return pa.Table.from_pylist(rows) if rows else None
    if ".csv" in name:
        with pa.input_stream(str(path), compression=_STREAM_CODEC.get(codec or "")) as src:
            data = src.read()
        # written with nulls unquoted and empty strings quoted; read them back the same way
        convert = pacsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)
        return pacsv.read_csv(pa.BufferReader(data), convert_options=convert) if data else None
    if name.endswith(".parquet"):
        return pq.read_table(path)
    if name.endswith(".orc"):
        return orc.read_table(str(path))
    return None
