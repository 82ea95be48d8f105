"""The embedded engine: Ibis on DuckDB, in process."""

from __future__ import annotations

import bz2
import logging
import os
import shutil
import tempfile
from pathlib import Path

import duckdb
import fsspec
import ibis
import ibis.expr.types as ir
import pyarrow as pa
import sqlglot as sg
import sqlglot.expressions as sge

from healthanalytics.config import ReportFileSettings, Settings
from healthanalytics.engines.base import Engine, EngineError
from healthanalytics.errors import first_line
from healthanalytics.io.inputs import InputFiles
from healthanalytics.io.locks import new_locked_file, take_lock
from healthanalytics.io.report_files import write_report_files

log = logging.getLogger(__name__)

_BATCH_ROWS = 256_000
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

    def describe(self) -> str:
        return f"duckdb {self._settings}"

    def read_csv(self, files: InputFiles, columns: tuple[str, ...]) -> ir.Table:
        paths = list(files.paths)
        if files.compression == "bz2":  # DuckDB cannot read bzip2: decompress to scratch
            paths = [self._decompress_bz2(path) for path in paths]
        return self.con.read_csv(
            paths,
            columns={name: "VARCHAR" for name in columns},
            header=True,
            delim=files.dialect.delimiter,
            quote='"',
            escape='"',
            auto_detect=False,
            compression="auto" if files.compression in (None, "bz2") else files.compression,
        )

    def read_parquet(self, files: InputFiles) -> ir.Table:
        return self.con.read_parquet(list(files.paths))

    def materialize(self, table: ir.Table, name: str) -> ir.Table:
        # One CREATE TABLE AS: Ibis' create_table runs CREATE then INSERT, which took twice
        # as long for 25M staged lines (duckdb 1.5). The casts keep the types Ibis declares
        # (DuckDB sums BIGINTs into HUGEINTs); a cast to a column's own type costs nothing.
        self.con._run_pre_execute_hooks(table)  # registers in-memory tables, as Ibis' own calls do
        to_type = self.con.compiler.type_mapper.from_ibis
        typed = sg.select(
            *(
                sge.Cast(this=sg.column(column, quoted=True), to=to_type(dtype)).as_(
                    column, quoted=True
                )
                for column, dtype in table.schema().items()
            )
        ).from_(self.con.compiler.to_sqlglot(table).subquery())
        create = sge.Create(
            kind="TABLE",
            this=sg.table(name, quoted=True),
            expression=typed,
            replace=True,
            properties=sge.Properties(expressions=[sge.TemporaryProperty()]),
        )
        self.con.raw_sql(create.sql("duckdb"))
        return self.con.table(name)

    def to_arrow(self, table: ir.Table) -> pa.Table:
        return table.to_pyarrow()

    def to_batches(self, table: ir.Table) -> pa.RecordBatchReader:
        # Streaming a query with joins and windows straight out of DuckDB hung (duckdb 1.5,
        # millions of rows in, 0% CPU): compute it into a table, then stream that table.
        self._streams += 1
        stored = self.materialize(table, f"_stream_{self._streams}")
        return stored.to_pyarrow_batches(chunk_size=_BATCH_ROWS)

    def write_report(self, table: ir.Table, dest: str, spec: ReportFileSettings) -> None:
        write_report_files(self.to_arrow(table), dest, spec.format, spec.compression, spec.files)

    def close(self) -> None:
        self.con.disconnect()
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)
        os.close(self._scratch_lock)  # after the removal: nobody else removes it meanwhile

    def _decompress_bz2(self, path: str) -> str:
        # keep the file's own name so DuckDB's error messages still point at it
        folder = self._scratch / f"bz2-{len(list(self._scratch.glob('bz2-*')))}"
        folder.mkdir()
        target = folder / Path(path).name.removesuffix(".bz2")
        with fsspec.open(path, "rb") as raw, bz2.open(raw) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 16 * 1024 * 1024)
        return str(target)
