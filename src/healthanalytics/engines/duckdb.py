"""The embedded engine: Ibis on DuckDB, in process."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from healthanalytics.config import ReportFileSettings, Settings
from healthanalytics.engines.base import Engine, EngineError
from healthanalytics.engines.duckdb_csv import (
    MALFORMED,
    CsvSource,
    copy_readable,
    csv_problem,
    needs_copy,
    view_sql,
)
from healthanalytics.engines.duckdb_s3 import S3ReadSetupError, enable_s3, s3_failure
from healthanalytics.engines.ibis_compat import create_table_as, parquet_view_sql
from healthanalytics.errors import first_line
from healthanalytics.io.csv_lines import find_bad_line, open_bytes
from healthanalytics.io.files import LOCAL_FILES, FileAccess, StoreUnavailableError, uri_scheme
from healthanalytics.io.inputs import InputFiles
from healthanalytics.io.locks import new_locked_file, take_lock
from healthanalytics.io.report_files import write_report_parts
from healthanalytics.io.s3 import S3Files, S3Settings, S3SetupError, resolve_s3_settings

log = logging.getLogger(__name__)

_BATCH_ROWS = 256_000
_NAMED_FILE = re.compile(r"^\s*file\s*=\s*(.+?)\s*$", re.MULTILINE)
_T = TypeVar("_T")
SCRATCH_PREFIX = "healthanalytics-"
# held for the engine's life: a scratch folder whose lock can be taken belongs to a dead run
SCRATCH_LOCK = ".lock"


def make_scratch(parent: str | None) -> tuple[Path, int]:
    """A new scratch folder `healthanalytics-XXXX` under `parent` (the system temp folder when
    None) and the descriptor holding the lock file inside it; scratch folders that dead runs
    left there are removed first."""
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=parent))
    try:
        lock = new_locked_file(folder / SCRATCH_LOCK)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    remove_dead_scratch(folder.parent)
    return folder, lock


def remove_dead_scratch(parent: Path) -> list[Path]:
    """Remove the scratch folders under `parent` whose lock file nobody holds (their run was
    killed); a folder without a lock file (made by an older release, or another program) is
    left alone. Returns the folders removed."""
    removed = []
    for folder in parent.glob(f"{SCRATCH_PREFIX}*"):
        lock = folder / SCRATCH_LOCK
        try:
            if not lock.is_file() or (fd := take_lock(lock)) is None:
                continue
        except OSError:  # not ours to judge (another user's, say)
            continue
        try:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(fd)
        log.warning("removed scratch folder %s, left by a stopped run", folder)
        removed.append(folder)
    return removed


class DuckDBEngine(Engine):
    """Runs the transforms in an in-memory DuckDB database that may spill to disk."""

    name = "duckdb"

    def __init__(self, settings: Settings) -> None:
        try:
            self._scratch, self._scratch_lock = make_scratch(settings.temp_directory)
        except OSError as err:
            raise EngineError(
                f"--temp-directory {settings.temp_directory}: no scratch folder can be made there "
                f"({err.strerror or err}); give an existing folder this user can write to"
            ) from err
        config = {
            "threads": settings.threads,
            "temp_directory": str(self._scratch / "spill"),
            "preserve_insertion_order": False,
            # nothing is downloaded during a run: httpfs comes from its wheel (duckdb_s3)
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if settings.memory_limit:
            config["memory_limit"] = settings.memory_limit
        try:
            self.con = ibis.duckdb.connect(**config)
        except duckdb.Error as err:
            self._remove_scratch()
            raise EngineError(
                f"the DuckDB engine cannot start with threads {settings.threads} and memory limit "
                f"{settings.memory_limit}: {first_line(str(err))}; check --threads and "
                "--memory-limit (a size such as 2GB)"
            ) from err
        self._settings = config
        self._streams = 0
        self._csv_sources: list[CsvSource] = []
        self._copies = 0
        self._parquet_views = 0
        self._s3: S3Settings | None = None  # set up on the first s3:// source
        self._s3_files: S3Files | None = None
        self._s3_inputs: list[str] = []  # every s3:// file read, to name in errors

    def describe(self) -> str:
        return f"duckdb {self._settings}"

    def file_access(self, source: str) -> FileAccess:
        """Local paths through fsspec; s3:// through s3fs, after DuckDB is set up to read S3
        itself (httpfs, the run's credentials and retries); any other URI refused."""
        scheme = uri_scheme(source)
        if scheme is None:
            return LOCAL_FILES
        if scheme != "s3":
            raise EngineError(
                f"{source} cannot be read: the duckdb engine reads local paths and s3:// URIs; "
                "the Spark engine (--engine spark) reads any scheme its cluster's Hadoop "
                "configuration supports"
            )
        if self._s3_files is None:
            try:
                self._s3 = resolve_s3_settings()
                enable_s3(self.con.con, self._s3)
            except (S3SetupError, S3ReadSetupError) as err:
                raise EngineError(str(err)) from err
            self._s3_files = S3Files(self._s3)
        return self._s3_files

    def read_csv(self, files: InputFiles, columns: tuple[str, ...]) -> ir.Table:
        source = CsvSource(f"csv_{len(self._csv_sources)}", files, columns, list(files.paths))
        if needs_copy(files):  # no bzip2, no cp1252 in DuckDB: a UTF-8 copy in scratch
            self._copy(source, transcode=files.dialect.encoding == "cp1252", normalise=False)
        self._csv_sources.append(source)
        self._remember_s3(files)
        self._binding(lambda: self.con.raw_sql(view_sql(source)))
        return self.con.table(source.view)

    def read_parquet(self, files: InputFiles) -> ir.Table:
        # a view of our own, not Ibis' read_parquet (see ibis_compat)
        self._parquet_views += 1
        view = f"parquet_{self._parquet_views}"
        self._remember_s3(files)
        self._binding(lambda: self.con.raw_sql(parquet_view_sql(view, files.paths)))
        return self.con.table(view)

    def _remember_s3(self, files: InputFiles) -> None:
        self._s3_inputs += [path for path in files.paths if uri_scheme(path) == "s3"]

    def _binding(self, action: Callable[[], _T]) -> _T:
        """The action (a view over inputs, which DuckDB opens to bind it); an S3 request
        failing past its retries as a StoreUnavailableError naming the object, other errors as they
        are (the integrity check names a corrupt input in their place)."""
        try:
            return action()
        except duckdb.Error as err:
            if (failure := self._s3_failure(str(err))) is not None:
                raise StoreUnavailableError(failure) from err
            raise

    def materialize(self, table: ir.Table, name: str) -> ir.Table:
        # one CREATE TABLE AS, not Ibis' create_table (see ibis_compat)
        create = create_table_as(self.con, table, name)
        self._reading(lambda: self.con.raw_sql(create))
        return self.con.table(name)

    def to_arrow(self, table: ir.Table) -> pa.Table:
        return self._reading(table.to_pyarrow)

    def to_batches(self, table: ir.Table) -> pa.RecordBatchReader:
        # Streaming a query with joins and windows straight out of DuckDB hung (duckdb 1.5,
        # millions of rows in, 0% CPU): compute it into a table, then stream that table.
        self._streams += 1
        stored = self.materialize(table, f"_stream_{self._streams}")
        return stored.to_pyarrow_batches(chunk_size=_BATCH_ROWS)

    def output_access(self, folder: str) -> FileAccess:
        """A local folder through fsspec; an s3:// prefix through s3fs with the run's S3
        settings (its bucket must exist); any other URI refused."""
        scheme = uri_scheme(folder)
        if scheme is None:
            return super().output_access(folder)
        if scheme != "s3":
            raise EngineError(
                f"--output {folder}: the duckdb engine writes its outputs to a local folder or "
                "an s3:// prefix; run with --engine spark to write to another cluster file "
                "system URI"
            )
        files = self.file_access(folder)
        assert self._s3_files is not None  # made by file_access
        bucket = "s3://" + folder.removeprefix("s3://").split("/", 1)[0]
        try:  # not `exists`: s3fs takes an unreachable endpoint or refused credentials for "no"
            found = self._s3_files.bucket_exists(bucket)
        except OSError as err:
            raise EngineError(f"--output {folder} cannot be written: {err}") from err
        if not found:
            raise EngineError(
                f"--output {folder}: the bucket {bucket} does not exist (or is not visible with "
                "these AWS credentials); create it or check AWS_ENDPOINT_URL and the profile"
            )
        return files

    def write_report(self, table: ir.Table, dest: str, spec: ReportFileSettings) -> None:
        # pyarrow writes the parts (DuckDB's COPY writes neither ORC nor bzip2), into the
        # folder the pipeline staged: a local path, or an s3:// prefix through s3fs
        access = self._s3_files if uri_scheme(dest) == "s3" and self._s3_files else LOCAL_FILES
        write_report_parts(
            self.to_arrow(table), dest, spec.format, spec.compression, spec.files, access
        )

    def close(self) -> None:
        self.con.disconnect()
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)
        os.close(self._scratch_lock)  # after the removal: nobody else removes it meanwhile

    def _reading(self, action: Callable[[], _T]) -> _T:
        """The action's result; when it fails on a CSV input, the input read another way and
        the action run again, or an EngineError naming the first bad line (a
        StoreUnavailableError naming the object when an S3 request fails past its retries)."""
        while True:
            try:
                return action()
            except duckdb.Error as err:
                if (failure := self._s3_failure(str(err))) is not None:
                    raise StoreUnavailableError(failure) from err
                if not self._recover(err):
                    raise EngineError(
                        csv_problem(str(err))
                        or f"the DuckDB engine could not process the input: {first_line(str(err))}"
                    ) from err

    def _s3_failure(self, text: str) -> str | None:
        if self._s3 is None:
            return None
        return s3_failure(text, self._s3_inputs, self._s3.max_attempts)

    def _recover(self, err: duckdb.Error) -> bool:
        """True when a CSV input is now read another way and the action may run again; an
        EngineError when the input has a bad line; False when the error is not about one."""
        text = str(err)
        source, path = self._failed_read(text)
        if source is None:
            return False
        where = path or source.files.source
        if "null_padding in conjunction with quoted new lines" in text and source.parallel:
            # padded short lines and quoted line breaks: DuckDB reads such files on one thread
            log.warning("%s: a quoted value holds a line break: read on one thread", where)
            source.parallel = False
        elif "state machine reached an invalid state" in text and not source.normalised:
            log.warning("%s: lines end in more than one way (LF, CRLF, CR): read from a copy "
                        "whose lines all end in LF", where)  # fmt: skip
            self._copy(source, transcode=source.transcoded, normalise=True)
        elif "is not latin-1 encoded" in text and not source.transcoded:
            # DuckDB's Latin-1 refuses the bytes 0x80-0x9F that Python's and Java's read
            self._copy(source, transcode=True, normalise=source.normalised)
        else:
            raise self._bad_line(source, path, text) from err
        self.con.raw_sql(view_sql(source))
        return True

    def _failed_read(self, text: str) -> tuple[CsvSource | None, str | None]:
        """The CSV input an error is about, and the input file it names (None when none)."""
        named = text.split(MALFORMED, 1)[1].splitlines()[0] if MALFORMED in text else None
        if named is None and (match := _NAMED_FILE.search(text)):
            named = match[1]
        for source in self._csv_sources:
            if named in source.paths:
                return source, source.original(named)
            if named is None and "is not latin-1 encoded" in text and source.encoding == "latin-1":
                return source, None
        return None, None

    def _bad_line(self, source: CsvSource, path: str | None, text: str) -> EngineError:
        """The first bad line of the input (of the file DuckDB named), as one line."""
        files = source.files
        access = self.file_access(files.source)
        scan = find_bad_line(files, len(source.columns), access, [path] if path else None)
        if scan.bad is not None:
            return EngineError(scan.bad.message())
        for copy, original in source.originals.items():
            text = text.replace(copy, original)
        if MALFORMED in text:
            return EngineError(
                f"{path}: a line has more or fewer fields than the header, but the line could "
                "not be found again; check the file's line breaks and quotes"
            )
        message = csv_problem(text) or f"{path or files.source}: {first_line(text)}"
        return EngineError(message)

    def _copy(self, source: CsvSource, *, transcode: bool, normalise: bool) -> None:
        """The source read from UTF-8 copies of its files in scratch (decompressed, transcoded
        from the declared encoding when `transcode`, every line ending in LF when `normalise`);
        an EngineError naming the first line that is not text in the declared encoding."""
        files = source.files
        access = self.file_access(files.source)
        self._copies += 1
        folder = self._scratch / f"copy-{self._copies}"
        copies: dict[str, str] = {}
        for index, path in enumerate(files.paths):
            # the file's own name, decompressed, in a folder of its own: no two parts collide
            name = Path(path).name.removesuffix(".bz2").removesuffix(".gz").removesuffix(".zst")
            target = folder / str(index) / name
            target.parent.mkdir(parents=True)
            try:
                with open_bytes(files, path, access) as src, open(target, "wb") as dst:
                    copy_readable(files, src, dst, transcode=transcode, normalise=normalise)
            except UnicodeDecodeError as err:
                raise self._bad_line(source, path, str(err)) from err
            except (OSError, EOFError, pa.ArrowException) as err:
                raise EngineError(
                    f"{path} cannot be read to its end ({first_line(str(err))}): it is truncated "
                    "or corrupt; fetch it again"
                ) from err
            copies[str(target)] = path
        stale = [Path(copy).parent.parent for copy in source.originals]
        source.paths, source.originals = list(copies), copies
        source.transcoded, source.normalised = transcode, normalise
        for old in set(stale):
            shutil.rmtree(old, ignore_errors=True)
