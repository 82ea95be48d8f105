"""The CSV inputs of a Spark run: each read through a session view, by line or whole, and read
another way (or stopped at its first bad line) when Spark fails on it. csv.py says how."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from py4j.protocol import Py4JError
from pyspark.sql import SparkSession

from healthanalytics.engines.base import EngineError
from healthanalytics.engines.spark.csv import (
    NOT_TEXT,
    SparkCsvSource,
    csv_frame,
    failed_file,
    odd_quote_files,
    whole_line_sep,
)
from healthanalytics.engines.spark.errors import spark_errors
from healthanalytics.engines.spark.paths import spark_path
from healthanalytics.io.csv_lines import find_bad_line
from healthanalytics.io.files import FileAccess
from healthanalytics.io.inputs import InputFiles

log = logging.getLogger(__name__)

# compressions Hadoop cannot split: a file is read by one task whichever way it is read
_WHOLE_FILES = ("gzip", "zstd")
_HADOOP_SUFFIX = {"gzip": ".gz", "bz2": ".bz2", "zstd": ".zst"}


class CsvInputs:
    """The CSV inputs read so far, each a session view over its files, and how each file is
    read; `file_access` opens an input's files from the driver."""

    def __init__(self, session: SparkSession, file_access: Callable[[str], FileAccess]) -> None:
        self._session = session
        self._file_access = file_access
        self._sources: list[SparkCsvSource] = []

    def read(self, files: InputFiles, columns: tuple[str, ...]) -> str:
        """The name of a new view of the input's lines, every header column as text; an
        EngineError when Spark cannot read the files or a bad line is found before the read."""
        check_readable(self._session, files)
        source = SparkCsvSource(
            f"csv_{len(self._sources)}",
            files,
            columns,
            tuple(spark_path(path) for path in files.paths),
        )
        self._sources.append(source)
        if files.compression in _WHOLE_FILES:
            self._read_whole(source, files.paths)
        else:
            self._choose_read(source)
        csv_frame(self._session, source).createOrReplaceTempView(source.view)
        return source.view

    def recover(self, err: Exception) -> bool:
        """True when a CSV input is now read another way and the action may run again; an
        EngineError when the input has a bad line; False when the error is not about one."""
        text = str(err)
        named = failed_file(text)
        source, path = next(
            ((s, p) for s in self._sources if named and (p := s.input_path(named))),
            (None, None),
        )
        if source is None:
            return False
        files = source.files
        access = self._file_access(files.source)
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
        csv_frame(self._session, source).createOrReplaceTempView(source.view)
        return True

    def _choose_read(self, source: SparkCsvSource) -> None:
        """A splittable input read by line, unless a line of it opens or closes a quoted line
        break, or holds a quote never closed: the driver reads the files with such lines
        through, stops at a bad line as DuckDB does, and has quoted line breaks read whole."""
        with spark_errors():
            suspect = odd_quote_files(self._session, source)
        if not suspect:
            return
        files = source.files
        scan = find_bad_line(files, len(source.columns), self._file_access(files.source), suspect)
        if scan.bad is not None:
            raise EngineError(scan.bad.message())
        if scan.spans_lines:
            log.warning("%s: a quoted value holds a line break: read whole, by one task",
                        ", ".join(suspect))  # fmt: skip
            self._read_whole(source, suspect)

    def _read_whole(self, source: SparkCsvSource, paths: Iterable[str]) -> None:
        access = self._file_access(source.files.source)
        for path in paths:
            source.whole[path] = whole_line_sep(source.files, path, access)


def check_readable(session: SparkSession, files: InputFiles) -> None:
    """An EngineError when Spark would misread the compressed files: a name that does not
    end in the codec's suffix, or zstd without Hadoop's native library."""
    suffix = _HADOOP_SUFFIX.get(files.compression or "")
    for path in files.paths:
        # Spark picks the codec by file name, not by content
        if suffix and not path.endswith(suffix):
            raise EngineError(
                f"{path} is {files.compression}-compressed but its name does not end in "
                f"{suffix}: Spark picks the codec by file name; rename the file"
            )
    if files.compression == "zstd" and not native_zstd(session):
        raise EngineError(
            f"{files.paths[0]} is zstd-compressed, which this Spark (without Hadoop's "
            "native zstd library) cannot read: decompress it or recompress it with gzip "
            "or bzip2, or run with --engine duckdb"
        )


def native_zstd(session: SparkSession) -> bool:
    """Whether this Hadoop has its native zstd codec (pip's PySpark has not)."""
    loader = session.sparkContext._jvm.org.apache.hadoop.util.NativeCodeLoader
    try:
        return bool(loader.isNativeCodeLoaded() and loader.buildSupportsZstd())
    except Py4JError:
        return False
