"""What every engine offers the pipeline. Only the factory knows which one runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir
import pyarrow as pa

from healthanalytics.io.files import LOCAL_FILES, FileAccess, check_reachable, uri_scheme
from healthanalytics.io.inputs import InputFiles

if TYPE_CHECKING:  # config takes in the engines' own settings (engines/options.py)
    from healthanalytics.config import ReportFileSettings


class EngineError(RuntimeError):
    """The engine cannot start or cannot read an input; the message says what to do."""


class Engine(ABC):
    """An Ibis backend plus the few operations that differ between backends."""

    name: str

    @abstractmethod
    def read_csv(self, files: InputFiles, columns: tuple[str, ...]) -> ir.Table:
        """The CSV input with every column declared as text (no sniffing, no inference)."""

    @abstractmethod
    def read_parquet(self, files: InputFiles) -> ir.Table:
        """The Parquet input with its own schema."""

    @abstractmethod
    def materialize(self, table: ir.Table, name: str) -> ir.Table:
        """The table computed once and kept for the rest of the run."""

    @abstractmethod
    def to_arrow(self, table: ir.Table) -> pa.Table:
        """A small result as one Arrow table."""

    def one_row(self, table: ir.Table) -> dict[str, Any]:
        """A result of exactly one row (an aggregate), as a dict."""
        return self.to_arrow(table).to_pylist()[0]

    def count_rows(self, table: ir.Table) -> int:
        """How many rows the table has."""
        return int(self.one_row(table.aggregate(rows=table.count()))["rows"])

    @abstractmethod
    def to_batches(self, table: ir.Table) -> pa.RecordBatchReader:
        """A possibly large result, streamed in Arrow record batches."""

    @abstractmethod
    def write_report(self, table: ir.Table, dest: str, spec: ReportFileSettings) -> None:
        """The report written as a folder of part files at `dest`, a path inside a folder that
        `output_access` accepted; `_SUCCESS` last, all or nothing."""

    def file_access(self, source: str) -> FileAccess:
        """How the driver lists and opens the files behind `source` before the engine reads
        them: the way this engine reaches them (fsspec unless the engine says otherwise); an
        EngineError when it cannot reach them."""
        try:
            check_reachable(source)
        except OSError as err:
            raise EngineError(
                f"{source} cannot be read: {err}; the Spark engine reads any scheme its "
                "cluster's Hadoop configuration supports"
            ) from err
        return LOCAL_FILES

    def output_access(self, folder: str) -> FileAccess:
        """How the driver places the run's outputs in `folder` (report folders, the quality
        checks); an EngineError, before any work, when this engine cannot write there. Local
        folders only, unless the engine says otherwise: its writers take local paths."""
        if uri_scheme(folder) is not None:
            raise EngineError(
                f"--output {folder}: the {self.name} engine writes its outputs to a local folder "
                "only; give --output a local folder, or run with --engine spark to write to a "
                "cluster file system URI"
            )
        return LOCAL_FILES

    def read(self, files: InputFiles, columns: tuple[str, ...]) -> ir.Table:
        """The input, whichever its format."""
        if files.format == "parquet":
            return self.read_parquet(files)
        return self.read_csv(files, columns)

    def describe(self) -> str:
        """A short description of the engine's settings, for the log."""
        return self.name

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the engine's resources."""
