"""Report files written by Spark's writers into the folder the pipeline staged; zstd JSON/CSV
compressed on the driver."""

from __future__ import annotations

import shutil

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from healthanalytics.config import ReportFileSettings
from healthanalytics.engines.spark.errors import spark_errors
from healthanalytics.engines.spark.files import drop_checksums
from healthanalytics.engines.spark.paths import spark_uri
from healthanalytics.io.files import FileAccess, split_path
from healthanalytics.io.report_files import staged_folder

# report compression name -> Spark's codec name; zstd text is handled apart (see write_report_files)
_CODECS = {None: "none", "bzip2": "bzip2", "gzip": "gzip", "zstd": "zstd", "snappy": "snappy",
           "zlib": "zlib", "lz4": "lz4"}  # fmt: skip


def write_report_files(
    frame: DataFrame, dest: str, spec: ReportFileSettings, files: FileAccess
) -> None:
    """The frame's rows as `spec.files` files of `spec.format` in the folder `dest`, staged
    and moved into place through `files`; an EngineError when Spark fails."""
    # Hadoop's zstd codec needs native libraries that pip's PySpark lacks: for zstd
    # JSON/CSV Spark writes plain parts and the driver compresses them (reports are small),
    # reading and writing through the same file access as the rest of the output
    zstd_text = spec.compression == "zstd" and spec.format in ("json", "csv")
    codec = "none" if zstd_text else _CODECS[spec.compression]
    with spark_errors():
        frame = _in_files(frame, spec.files)
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
    with staged_folder(dest, files) as staging, spark_errors():
        writer.save(spark_uri(staging))
        drop_checksums(files, staging)
        if zstd_text:
            _compress_zstd(files, staging)


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
