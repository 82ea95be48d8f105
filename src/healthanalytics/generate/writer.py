"""Plan the chunks, build them (optionally in a process pool) and stream them to one file."""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from healthanalytics.generate.catalog import load_catalog
from healthanalytics.generate.columns import header, schema
from healthanalytics.generate.npi import BASE_HIGH, BASE_LOW
from healthanalytics.generate.prescriptions import ChunkPlan, build_chunk
from healthanalytics.generate.structure import PLANTED, Planted

LAYOUTS = ("course", "cms")
FORMATS = ("csv", "parquet")
CHUNK_ROWS = 500_000  # part of the output's identity: changing it changes every file
DIRTY_SHARES = {"duplicate_row": 0.4, "missing_drug": 0.3, "invalid_npi": 0.3}
_CODECS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}


@dataclass(frozen=True)
class GenerateSummary:
    """What a generate run wrote."""

    rows: int
    prescribers: int
    path: Path
    bytes: int
    seconds: float
    dirty: dict[str, int]  # rows per kind of dirt: duplicate_row, missing_drug, invalid_npi, ...


def _round(value: float) -> int:
    return math.floor(value + 0.5)


def plan_chunks(rows: int, dirty_rate: float) -> list[ChunkPlan]:
    """Chunks of CHUNK_ROWS rows, each with its own NPI range and its share of every dirty kind."""
    count = math.ceil(rows / CHUNK_ROWS)
    span = (BASE_HIGH - BASE_LOW) // count
    plans = []
    for index in range(count):
        start, end = index * CHUNK_ROWS, min(rows, (index + 1) * CHUNK_ROWS)
        # Cumulative rounding: totals match rows * rate * share, spread evenly over the chunks.
        dirty = {
            kind: _round(end * dirty_rate * share) - _round(start * dirty_rate * share)
            for kind, share in DIRTY_SHARES.items()
        }
        # Tiny chunks: every duplicate needs a clean row to copy, every broken row its own row.
        dirty["duplicate_row"] = min(dirty["duplicate_row"], (end - start) // 3)
        spare = end - start - 2 * dirty["duplicate_row"]
        dirty["invalid_npi"] = min(dirty["invalid_npi"], spare // 2)
        dirty["missing_drug"] = min(dirty["missing_drug"], spare - dirty["invalid_npi"])
        low = BASE_LOW + index * span
        plans.append(ChunkPlan(index, end - start, low, low + span, **dirty))
    return plans


def _csv_options() -> pcsv.WriteOptions:
    # Larger batches than the default 1024 rows write faster; the bytes are the same.
    return pcsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=8192)


def render_chunk(
    plan: ChunkPlan,
    seed: int,
    layout: str,
    fmt: str,
    as_bytes: bool = False,
    planted: Planted = PLANTED,
) -> tuple[pa.Table | pa.Buffer, int, dict[str, int]]:
    """One chunk ready to append: its table, or for a worker process its CSV text (no header)."""
    chunk = build_chunk(plan, seed, layout, load_catalog(planted))
    if fmt == "parquet" or not as_bytes:
        return chunk.table, chunk.prescribers, chunk.dirty
    sink = pa.BufferOutputStream()
    pcsv.write_csv(chunk.table, sink, _csv_options())
    return sink.getvalue(), chunk.prescribers, chunk.dirty


def _in_order(
    plans: list[ChunkPlan], seed: int, layout: str, fmt: str, workers: int, planted: Planted
) -> Iterator[tuple[pa.Table | pa.Buffer, int, dict[str, int]]]:
    """Rendered chunks in plan order; at most a few are held in memory at any time."""
    if workers <= 1 or len(plans) == 1:
        for plan in plans:
            yield render_chunk(plan, seed, layout, fmt, planted=planted)
        return
    # Spawned (not forked) workers: the caller may run threads, e.g. a progress bar.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[Future] = deque()
    try:
        for plan in plans:
            pending.append(pool.submit(render_chunk, plan, seed, layout, fmt, True, planted))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(cancel_futures=True)


class _CsvSink:
    def __init__(self, path: Path, layout: str, codec: str | None) -> None:
        self._raw = pa.OSFile(str(path), "wb")
        self._out = pa.CompressedOutputStream(self._raw, codec) if codec else self._raw
        self._out.write((",".join(header(layout)) + "\n").encode())  # plain names, unquoted

    def write(self, payload: pa.Table | pa.Buffer) -> None:
        if isinstance(payload, pa.Table):
            pcsv.write_csv(payload, self._out, _csv_options())
        else:
            self._out.write(payload)

    def close(self) -> None:
        self._out.close()
        if self._out is not self._raw:
            self._raw.close()


class _ParquetSink:
    def __init__(self, path: Path, layout: str) -> None:
        self._writer = pq.ParquetWriter(str(path), schema(layout), compression="zstd")

    def write(self, payload: pa.Table) -> None:
        self._writer.write_table(payload)

    def close(self) -> None:
        self._writer.close()


def _check(rows: int, layout: str, fmt: str, seed: int, dirty_rate: float) -> None:
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows must be a whole number of at least 1, got {rows!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number of at least 0, got {seed!r}")
    if not 0.0 <= dirty_rate <= 0.5:
        raise ValueError(f"dirty_rate must be between 0 and 0.5, got {dirty_rate!r}")


def generate_prescriptions(
    rows: int,
    out: Path | str,
    *,
    layout: str = "course",
    fmt: str = "csv",
    seed: int = 0,
    dirty_rate: float = 0.005,
    on_progress: Callable[[int], None] | None = None,
    workers: int = 1,
    planted: Planted = PLANTED,
) -> GenerateSummary:
    """Write `rows` synthetic Part D prescriber-by-drug rows to `out`; the same arguments give
    the same bytes.

    `workers` > 1 builds chunks in that many spawned processes; the output is the same. One
    process is the default: on the 2-vCPU machine this was measured on, a pool was slower.
    `planted` is the market structure planted (structure.py); `UNPLANTED` gives the same
    kind of file without it, for showing that an analysis finds what was planted.
    """
    _check(rows, layout, fmt, seed, dirty_rate)
    began = time.perf_counter()
    out = Path(out)
    codec = _CODECS.get(out.suffix.lower()) if fmt == "csv" else None
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.partial")
    plans = plan_chunks(rows, dirty_rate)
    prescribers = 0
    dirty = dict.fromkeys([*DIRTY_SHARES, "blank_claims"], 0)
    sink = _CsvSink(temporary, layout, codec) if fmt == "csv" else _ParquetSink(temporary, layout)
    try:
        with closing(_in_order(plans, seed, layout, fmt, workers, planted)) as chunks:
            for plan, (payload, count, kinds) in zip(plans, chunks, strict=True):
                sink.write(payload)
                prescribers += count
                for kind, number in kinds.items():
                    dirty[kind] += number
                if on_progress is not None:
                    on_progress(plan.rows)
        sink.close()
        os.replace(temporary, out)
    except BaseException:
        with suppress(Exception):
            sink.close()
        temporary.unlink(missing_ok=True)
        raise
    return GenerateSummary(
        rows=rows,
        prescribers=prescribers,
        path=out,
        bytes=out.stat().st_size,
        seconds=time.perf_counter() - began,
        dirty=dirty,
    )
