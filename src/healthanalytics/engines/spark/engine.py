"""The cluster engine: Ibis on PySpark, local or on a Spark master; no Python on executors."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from typing import TypeVar

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame

from healthanalytics.config import ReportFileSettings, Settings
from healthanalytics.engines.base import Engine, EngineError
from healthanalytics.engines.ibis_compat import (
    SparkCompiler,
    register_arrow_memtables,
    with_declared_types,
)
from healthanalytics.engines.spark.errors import engine_error, spark_errors
from healthanalytics.engines.spark.files import HadoopFiles
from healthanalytics.engines.spark.paths import spark_path
from healthanalytics.engines.spark.readers import CsvInputs
from healthanalytics.engines.spark.results import arrow_batches
from healthanalytics.engines.spark.session import describe_session, start_session
from healthanalytics.engines.spark.writer import write_report_files
from healthanalytics.io.files import FileAccess, uri_scheme
from healthanalytics.io.inputs import InputFiles

log = logging.getLogger(__name__)

_PARTITION_BYTES = 128 * 1024 * 1024
# rows take ~4x their gzip/bzip2/zstd/Parquet size once parsed: shuffles are sized by that
_EXPANSION = {None: 1, "gzip": 4, "bz2": 4, "zstd": 4}
_T = TypeVar("_T")


class SparkEngine(Engine):
    """Runs the transforms as Spark SQL; results come back to the driver as Arrow."""

    name = "spark"

    def __init__(self, settings: Settings) -> None:
        self._user_conf = dict(settings.spark_conf)
        self.session = start_session(settings.master, self._user_conf)
        self.con = ibis.pyspark.connect(self.session)
        self.con.compiler = SparkCompiler()
        self._input_bytes = 0
        self._memtable_views: set[str] = set()
        self._views = itertools.count()
        self._hadoop_files = HadoopFiles(self.session)
        self._csv = CsvInputs(self.session, self.file_access)

    def describe(self) -> str:
        return describe_session(self.session)

    def file_access(self, source: str) -> FileAccess:
        # a URI is listed and opened through the cluster's Hadoop configuration, as Spark will
        # read it (schemes fsspec does not know included); plain local paths stay with fsspec
        if uri_scheme(source) is None:
            return super().file_access(source)
        return self._hadoop_files

    def output_access(self, folder: str) -> FileAccess:
        if uri_scheme(folder) is None:
            master = self.session.sparkContext.master
            if not master.startswith("local"):
                log.warning(
                    "output %s is a local path but master %s runs executors on other machines: "
                    "they write report parts to their own disks, so %s must be a folder shared "
                    "by every node, or give --output a cluster URI (hdfs://, s3a://, gs://...)",
                    folder, master, folder,
                )  # fmt: skip
            return super().output_access(folder)
        files = self.file_access(folder)
        try:
            # an unknown scheme, a missing connector or a refusal shows now, before any work
            files.exists(folder)
        except OSError as err:
            raise EngineError(f"--output {folder} cannot be written: {err}") from err
        return files

    def read_csv(self, files: InputFiles, columns: tuple[str, ...]) -> ir.Table:
        view = self._csv.read(files, columns)
        self._size_shuffles(files)
        return self.con.table(view)

    def read_parquet(self, files: InputFiles) -> ir.Table:
        frame = self.session.read.parquet(*(spark_path(path) for path in files.paths))
        self._size_shuffles(files)
        return self._register(frame, "parquet")

    def materialize(self, table: ir.Table, name: str) -> ir.Table:
        # Spark's columnar cache (memory, spilling to disk) holds the rows compressed; queries
        # on the view read it instead of their lineage, which Spark keeps only to rebuild
        # partitions an executor lost. A local checkpoint stores plain rows: slower here.
        def cached() -> DataFrame:
            frame = self._frame(table).cache()
            try:
                frame.count()
            except BaseException:
                frame.unpersist()
                raise
            return frame

        self._reading(cached).createOrReplaceTempView(name)
        return self.con.table(name)

    def to_arrow(self, table: ir.Table) -> pa.Table:
        schema = table.schema().to_pyarrow()
        arrow = self._reading(lambda: self._frame(table).toArrow())
        return arrow.rename_columns(schema.names).cast(schema)

    def to_batches(self, table: ir.Table) -> pa.RecordBatchReader:
        return arrow_batches(self._frame(table), table.schema().to_pyarrow())

    def write_report(self, table: ir.Table, dest: str, spec: ReportFileSettings) -> None:
        with spark_errors():
            frame = self._frame(table)
        write_report_files(frame, dest, spec, self.file_access(dest))

    def close(self) -> None:
        self.session.stop()

    def _frame(self, table: ir.Table) -> DataFrame:
        """The table as a Spark DataFrame whose column types are the ones Ibis declares; the
        in-memory tables it reads registered first (see ibis_compat)."""
        register_arrow_memtables(self.session, table, self._memtable_views)
        return with_declared_types(self.session.sql(self.con.compile(table)), table)

    def _reading(self, action: Callable[[], _T]) -> _T:
        """The action's result; when it fails on a CSV input, the input read another way and
        the action run again, or an EngineError naming the first bad line."""
        while True:
            try:
                return action()
            except (PySparkException, Py4JError) as err:
                if not self._csv.recover(err):
                    raise engine_error(err) from err

    def _register(self, frame: DataFrame, prefix: str) -> ir.Table:
        name = f"{prefix}_{next(self._views)}"
        frame.createOrReplaceTempView(name)
        return self.con.table(name)

    def _size_shuffles(self, files: InputFiles) -> None:
        """About 128 MB of parsed input (all inputs so far) per shuffle partition, unless the
        user chose a number; adaptive execution then merges the small ones."""
        if "spark.sql.shuffle.partitions" in self._user_conf:
            return
        expansion = 4 if files.format == "parquet" else _EXPANSION[files.compression]
        self._input_bytes += files.size * expansion
        parts = math.ceil(self._input_bytes / _PARTITION_BYTES)
        partitions = max(self.session.sparkContext.defaultParallelism, parts)
        self.session.conf.set("spark.sql.shuffle.partitions", str(partitions))
        log.info("spark.sql.shuffle.partitions=%d for ~%d MB of parsed input",
                 partitions, self._input_bytes >> 20)  # fmt: skip
