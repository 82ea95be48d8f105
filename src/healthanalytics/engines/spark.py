"""The cluster engine: Ibis on PySpark, local or on a Spark master; no Python on executors."""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import re
import shutil
import socket
import string
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pyarrow as pa
import pyspark
import sqlglot.expressions as sge
from ibis.backends.pyspark.datatypes import PySparkSchema
from ibis.backends.sql.compilers.pyspark import PySparkCompiler
from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from healthanalytics.config import ReportFileSettings, Settings
from healthanalytics.engines.base import Engine, EngineError
from healthanalytics.engines.spark_csv import (
    NOT_TEXT,
    SparkCsvSource,
    csv_frame,
    failed_file,
    glob_escaped,
    odd_quote_files,
    whole_line_sep,
)
from healthanalytics.engines.spark_files import HadoopFiles, drop_checksums
from healthanalytics.errors import first_line
from healthanalytics.io.csv_lines import find_bad_line
from healthanalytics.io.files import FileAccess, split_path, uri_scheme
from healthanalytics.io.inputs import InputFiles
from healthanalytics.io.report_files import staged_folder

log = logging.getLogger(__name__)

_BATCH_ROWS = 100_000
_SLICE_ROWS = 500_000  # rows collected to the driver at a time
_PARTITION_BYTES = 128 * 1024 * 1024
# compressions Hadoop cannot split: a file is read by one task whichever way it is read
_WHOLE_FILES = ("gzip", "zstd")
# rows take ~4x their gzip/bzip2/zstd/Parquet size once parsed: shuffles are sized by that
_EXPANSION = {None: 1, "gzip": 4, "bz2": 4, "zstd": 4}
# report compression name -> Spark's codec name; zstd text is handled apart (see write_report)
_CODECS = {None: "none", "bzip2": "bzip2", "gzip": "gzip", "zstd": "zstd", "snappy": "snappy",
           "zlib": "zlib", "lz4": "lz4"}  # fmt: skip
_HADOOP_SUFFIX = {"gzip": ".gz", "bz2": ".bz2", "zstd": ".zst"}

DEFAULT_CONF: dict[str, str] = {
    "spark.app.name": "healthanalytics",
    "spark.driver.memory": "2g",  # only honoured when this process starts the JVM
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    # lets Spark plan the joins with the small duplicate-hash table as broadcasts up front
    # (its size is estimated from the whole input); adaptive execution still converts later
    "spark.sql.autoBroadcastJoinThreshold": "64m",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "ERROR",
}
_CORE_SHOWN = ("spark.driver.memory", "spark.executor.memory", "spark.executor.cores")
_SQL_SHOWN = ("spark.sql.ansi.enabled", "spark.sql.adaptive.enabled")
_T = TypeVar("_T")


class _Compiler(PySparkCompiler):
    """Ibis' PySpark compiler with whitespace trimming fixed.

    Ibis 12 renders `strip()` as TRIM with a literal holding \\v and \\f, which Spark SQL reads
    as the letters v and f (ibis issue #11894, fixed after 12.0 by spelling them with CHR).
    """

    __slots__ = ()

    def _trim(self, arg, position: str | None = None):
        blanks = self.f.concat(
            *(
                sge.Anonymous(this="chr", expressions=[sge.convert(ord(c))])
                for c in string.whitespace
            )
        )
        return sge.Trim(this=arg, expression=blanks, position=position)

    def visit_Strip(self, op, *, arg):
        return self._trim(arg)

    def visit_LStrip(self, op, *, arg):
        return self._trim(arg, "LEADING")

    def visit_RStrip(self, op, *, arg):
        return self._trim(arg, "TRAILING")


class SparkEngine(Engine):
    """Runs the transforms as Spark SQL; results come back to the driver as Arrow."""

    name = "spark"

    def __init__(self, settings: Settings) -> None:
        _check_reachable(settings.master)
        self._user_conf = dict(settings.spark_conf)
        # ours < the cluster's spark-defaults.conf < --spark-conf
        cluster = _spark_defaults_keys()
        conf = {k: v for k, v in DEFAULT_CONF.items() if k not in cluster} | self._user_conf
        builder = SparkSession.builder.master(settings.master)
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            self.session = builder.getOrCreate()
        except Exception as err:
            raise EngineError(
                f"cannot start Spark with master {settings.master!r}: {_first_line(err)} "
                "(check --master, that Java 17+ is installed and the cluster is reachable)"
            ) from err
        if not log.isEnabledFor(logging.DEBUG):  # -v shows them
            _quiet_task_failures(self.session)
        self.con = ibis.pyspark.connect(self.session)
        self.con.compiler = _Compiler()
        self._input_bytes = 0
        self._memtable_views: set[str] = set()
        self._views = itertools.count()
        self._hadoop_files = HadoopFiles(self.session)
        self._csv_sources: list[SparkCsvSource] = []

    def describe(self) -> str:
        context = self.session.sparkContext
        shown = {key: context.getConf().get(key) for key in _CORE_SHOWN}
        shown |= {key: self.session.conf.get(key) for key in _SQL_SHOWN}
        settings = ", ".join(f"{k}={v}" for k, v in shown.items() if v is not None)
        return (
            f"spark {pyspark.__version__} master={context.master} app={context.applicationId} "
            f"parallelism={context.defaultParallelism}, {settings}"
        )

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
        self._check_readable(files)
        source = SparkCsvSource(
            f"csv_{len(self._csv_sources)}",
            files,
            columns,
            tuple(_spark_path(path) for path in files.paths),
        )
        self._csv_sources.append(source)
        if files.compression in _WHOLE_FILES:
            self._read_whole(source, files.paths)
        else:
            self._choose_read(source)
        csv_frame(self.session, source).createOrReplaceTempView(source.view)
        self._size_shuffles(files)
        return self.con.table(source.view)

    def _choose_read(self, source: SparkCsvSource) -> None:
        """A splittable input read by line, unless a line of it opens or closes a quoted line
        break, or holds a quote never closed: the driver reads the files with such lines
        through, stops at a bad line as DuckDB does, and has quoted line breaks read whole."""
        with _spark_errors():
            suspect = odd_quote_files(self.session, source)
        if not suspect:
            return
        files = source.files
        scan = find_bad_line(files, len(source.columns), self.file_access(files.source), suspect)
        if scan.bad is not None:
            raise EngineError(scan.bad.message())
        if scan.spans_lines:
            log.warning("%s: a quoted value holds a line break: read whole, by one task",
                        ", ".join(suspect))  # fmt: skip
            self._read_whole(source, suspect)

    def _read_whole(self, source: SparkCsvSource, paths: Iterable[str]) -> None:
        access = self.file_access(source.files.source)
        for path in paths:
            source.whole[path] = whole_line_sep(source.files, path, access)

    def read_parquet(self, files: InputFiles) -> ir.Table:
        frame = self.session.read.parquet(*(_spark_path(path) for path in files.paths))
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
        schema = table.schema().to_pyarrow()
        # cached first, so that every slice below reads the same partitions, computed once
        pinned = self._frame(table).cache()
        with _spark_errors():
            sizes = dict(pinned.groupBy(F.spark_partition_id()).count().collect())

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                with _spark_errors():
                    for ids in _slices(sizes, _SLICE_ROWS):
                        part = pinned.where(F.spark_partition_id().isin(ids)).toArrow()
                        part = part.rename_columns(schema.names).cast(schema)
                        yield from part.to_batches(max_chunksize=_BATCH_ROWS)
            finally:
                pinned.unpersist()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def write_report(self, table: ir.Table, dest: str, spec: ReportFileSettings) -> None:
        # Hadoop's zstd codec needs native libraries that pip's PySpark lacks: for zstd
        # JSON/CSV Spark writes plain parts and the driver compresses them (reports are small),
        # reading and writing through the same file access as the rest of the output
        zstd_text = spec.compression == "zstd" and spec.format in ("json", "csv")
        codec = "none" if zstd_text else _CODECS[spec.compression]
        with _spark_errors():
            frame = _in_files(self._frame(table), spec.files)
        writer = frame.write.format(spec.format).mode("errorifexists").option("compression", codec)
        if spec.format == "json":
            writer = writer.option("ignoreNullFields", False)
        if spec.format == "csv":
            writer = writer.options(
                header=True,
                quote='"',
                escape='"',  # RFC 4180 doubling, as every CSV reader expects
                ignoreLeadingWhiteSpace=False,  # Spark trims on write unless told not to
                ignoreTrailingWhiteSpace=False,
            )
        files = self.file_access(dest)
        with staged_folder(dest, files) as staging, _spark_errors():
            writer.save(_spark_uri(staging))
            drop_checksums(files, staging)
            if zstd_text:
                _compress_zstd(files, staging)

    def close(self) -> None:
        self.session.stop()

    def _register_memtables(self, table: ir.Table) -> None:
        """Each in-memory table the table reads (a driver-side result handed back as an
        ibis.memtable: the segments, the model's scores) as a session view of its name.
        Compiling alone does not register them, and Ibis' own registration goes through
        pandas rows that executors decode in Python (executors may have none): Arrow
        batches are decoded by the JVM."""
        for memtable in table.op().find(ops.InMemoryTable):
            if memtable.name in self._memtable_views:
                continue
            arrow = memtable.data.to_pyarrow(memtable.schema)
            schema = PySparkSchema.from_ibis(memtable.schema)
            self.session.createDataFrame(arrow, schema=schema).createOrReplaceTempView(
                memtable.name
            )
            self._memtable_views.add(memtable.name)

    def _frame(self, table: ir.Table) -> DataFrame:
        """The table as a Spark DataFrame whose column types are the ones Ibis declares
        (Spark's ROW_NUMBER is an INT where Ibis promises an int64, for one)."""
        self._register_memtables(table)
        frame = self.session.sql(self.con.compile(table))
        wanted = PySparkSchema.from_ibis(table.schema())
        if frame.schema.fields == wanted.fields:
            return frame
        return frame.select(
            *(
                F.col(f"`{field.name}`").cast(field.dataType).alias(field.name)
                if field.dataType != found.dataType
                else F.col(f"`{field.name}`")
                for field, found in zip(wanted.fields, frame.schema.fields, strict=True)
            )
        )

    def _reading(self, action: Callable[[], _T]) -> _T:
        """The action's result; when it fails on a CSV input, the input read another way and
        the action run again, or an EngineError naming the first bad line."""
        while True:
            try:
                return action()
            except (PySparkException, Py4JError) as err:
                if not self._recover(err):
                    raise _engine_error(err) from err

    def _recover(self, err: Exception) -> bool:
        """True when a CSV input is now read another way and the action may run again; an
        EngineError when the input has a bad line; False when the error is not about one."""
        text = str(err)
        named = failed_file(text)
        source, path = next(
            ((s, p) for s in self._csv_sources if named and (p := s.input_path(named))),
            (None, None),
        )
        if source is None:
            return False
        files = source.files
        access = self.file_access(files.source)
        not_text = NOT_TEXT in text
        # U+FFFD in a file may be text: then every file must be looked through before the
        # check is dropped. Any other failure names the file the bad line is in.
        scan = find_bad_line(files, len(source.columns), access, None if not_text else [path])
        if scan.bad is not None:
            raise EngineError(scan.bad.message()) from err
        if not_text:  # the scan went through every file: only the check can be dropped
            if not source.check_text:
                return False
            log.warning("%s holds the character U+FFFD as text: read without looking for "
                        "bytes Spark could not decode", path)  # fmt: skip
            source.check_text = False
        elif path not in source.whole:
            if not scan.spans_lines:
                return False
            log.warning("%s: a quoted value holds a line break: read again whole, by one task",
                        path)  # fmt: skip
            self._read_whole(source, [path])
        elif not scan.spans_lines:
            # read whole, Univocity ends lines only as the header ends them; by line, they
            # end at LF, CRLF and CR alike
            log.warning("%s: read again line by line (no quoted value holds a line break)", path)
            del source.whole[path]
        else:
            raise EngineError(
                f"{path}: quoted values hold line breaks and its lines do not all end as its "
                "header does (LF, CRLF or CR), which Spark cannot read; save it with one kind "
                "of line ending, or run with --engine duckdb"
            ) from err
        csv_frame(self.session, source).createOrReplaceTempView(source.view)
        return True

    def _register(self, frame: DataFrame, prefix: str) -> ir.Table:
        name = f"{prefix}_{next(self._views)}"
        frame.createOrReplaceTempView(name)
        return self.con.table(name)

    def _check_readable(self, files: InputFiles) -> None:
        suffix = _HADOOP_SUFFIX.get(files.compression or "")
        for path in files.paths:
            # Spark picks the codec by file name, not by content
            if suffix and not path.endswith(suffix):
                raise EngineError(
                    f"{path} is {files.compression}-compressed but its name does not end in "
                    f"{suffix}: Spark picks the codec by file name; rename the file"
                )
        if files.compression == "zstd" and not self._native_zstd():
            raise EngineError(
                f"{files.paths[0]} is zstd-compressed, which this Spark (without Hadoop's "
                "native zstd library) cannot read: decompress it or recompress it with gzip "
                "or bzip2, or run with --engine duckdb"
            )

    def _native_zstd(self) -> bool:
        loader = self.session.sparkContext._jvm.org.apache.hadoop.util.NativeCodeLoader
        try:
            return bool(loader.isNativeCodeLoaded() and loader.buildSupportsZstd())
        except Py4JError:
            return False

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


def _check_reachable(master: str) -> None:
    """Fail fast on a standalone master nobody answers at: Spark itself waits for minutes."""
    if not master.startswith("spark://"):
        return
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.rpartition(":")
        with contextlib.suppress(OSError, ValueError):
            socket.create_connection((host, int(port)), timeout=5).close()
            return
    raise EngineError(
        f"no Spark master answers at {master}: start the cluster or check --master "
        "(spark://HOST:PORT, default port 7077)"
    )


def _quiet_task_failures(session: SparkSession) -> None:
    """A failed task's exception reaches the driver, which reports it in one line; the logs of
    it by the executor and the scheduler (a page of Java stack before that line) are turned
    off. Executors of a cluster log to their own files, which keep it."""
    jvm = session.sparkContext._jvm
    with contextlib.suppress(Py4JError):
        off = jvm.org.apache.logging.log4j.Level.OFF
        for logger in (
            "org.apache.spark.executor.Executor",
            "org.apache.spark.scheduler.TaskSetManager",
        ):
            jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(logger, off)


def _spark_defaults_keys() -> set[str]:
    """The keys the installation's spark-defaults.conf sets (spark-submit applies them)."""
    home = os.environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)
    path = Path(os.environ.get("SPARK_CONF_DIR") or Path(home) / "conf") / "spark-defaults.conf"
    if not path.is_file():
        return set()
    lines = (line.strip() for line in path.read_text(errors="replace").splitlines())
    # a Java properties file: "key value", "key=value" or "key: value"
    return {re.split(r"[\s=:]", line, maxsplit=1)[0] for line in lines if line[:1] not in "#!"}


def _spark_uri(path: str) -> str:
    """A path as Spark is given it: local paths pinned to file:// so that a cluster whose
    default file system is HDFS does not look for them there."""
    if "://" in path:
        return path
    return "file://" + str(Path(path).absolute())


def _spark_path(path: str) -> str:
    """A path Spark reads as given (`_spark_uri`), Hadoop's glob characters escaped: Spark
    reads every path as a glob, so `x[1].csv` would read `x1.csv` beside it."""
    return glob_escaped(_spark_uri(path))


def _slices(sizes: dict[int, int], limit: int) -> Iterator[list[int]]:
    """Partition ids grouped into runs of at most `limit` rows (a bigger partition alone)."""
    run: list[int] = []
    rows = 0
    for index, size in sorted(sizes.items()):
        if run and rows + size > limit:
            yield run
            run, rows = [], 0
        run.append(index)
        rows += size
    if run:
        yield run


def _in_files(frame: DataFrame, files: int) -> DataFrame:
    """The rows in `files` partitions of contiguous, near-equal slices, order kept."""
    order = "__healthanalytics_order"
    return (
        frame.withColumn(order, F.monotonically_increasing_id())
        .repartitionByRange(files, order)
        .sortWithinPartitions(order)
        .drop(order)
    )


def _compress_zstd(files: FileAccess, folder: str) -> None:
    for part in files.list_files(folder):
        if not split_path(part.path)[1].startswith("part-"):
            continue
        with (
            files.open(part.path) as src,
            files.create(f"{part.path}.zst") as target,
            pa.CompressedOutputStream(target, "zstd") as dst,
        ):
            shutil.copyfileobj(src, dst, 4 * 1024 * 1024)
        files.remove(part.path)


def _first_line(err: BaseException) -> str:
    return first_line(str(err)) or repr(err)


_READ_FILE = re.compile(r"Encountered error while reading file (\S+?)\.?\s")
_MALFORMED = re.compile(r"Malformed CSV record: (.*?)(?: SQLSTATE|$)", re.MULTILINE)
_CAUSE = re.compile(r"^Caused by: (\S+: .*)$", re.MULTILINE)


@contextlib.contextmanager
def _spark_errors() -> Iterator[None]:
    """Spark's failures as one line naming the file and what to do."""
    try:
        yield
    except (PySparkException, Py4JError) as err:
        raise _engine_error(err) from err


def _engine_error(err: Exception) -> EngineError:
    """A Spark failure as one line naming the file and what to do, without Java's stack."""
    text = str(err)
    read = _READ_FILE.search(text)
    where = read[1].removeprefix("file://") if read else None
    if malformed := _MALFORMED.search(text):
        return EngineError(
            f"{where or 'fact file'}: malformed CSV row ({malformed[1].strip()[:120]}); "
            "fix or remove that row"
        )
    causes = _CAUSE.findall(text)
    reason = causes[-1] if causes else _first_line(err)
    if where:
        return EngineError(f"Spark could not read {where}: {reason}")
    return EngineError(f"the Spark engine failed: {reason}")
