"""Results brought to the driver as Arrow, a slice of partitions at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from healthanalytics.engines.spark.errors import spark_errors

_BATCH_ROWS = 100_000
_SLICE_ROWS = 500_000  # rows collected to the driver at a time


def arrow_batches(frame: DataFrame, schema: pa.Schema) -> pa.RecordBatchReader:
    """The frame's rows as batches of `schema` (whose names and types they are given),
    collected a few partitions at a time; an EngineError when Spark fails."""
    # cached first, so that every slice below reads the same partitions, computed once
    pinned = frame.cache()
    with spark_errors():
        sizes = dict(pinned.groupBy(F.spark_partition_id()).count().collect())

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            with spark_errors():
                for ids in slices(sizes, _SLICE_ROWS):
                    part = pinned.where(F.spark_partition_id().isin(ids)).toArrow()
                    part = part.rename_columns(schema.names).cast(schema)
                    yield from part.to_batches(max_chunksize=_BATCH_ROWS)
        finally:
            pinned.unpersist()

    return pa.RecordBatchReader.from_batches(schema, batches())


def slices(sizes: dict[int, int], limit: int) -> Iterator[list[int]]:
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
