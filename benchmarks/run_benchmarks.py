"""End-to-end benchmarks: generate (and cache) course-layout files, run the CLI on each as a user
would, and compare with a bare DuckDB scan of the same file. Prints a table, writes JSON.

    make bench              # 1M, 5M and 25M rows, median of 3; PostgreSQL and Spark columns
    .venv/bin/python benchmarks/run_benchmarks.py --sizes 1000000 --repeat 1
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import duckdb
import psutil
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
STAGE_LINE = re.compile(r"stage (\w+): end after ([0-9.]+) s")
console = Console(width=200)


def cached_file(rows: int) -> tuple[Path, float | None]:
    """A generated course-layout CSV of `rows` rows, made once and kept in benchmarks/.cache;
    with the seconds generation took (None when the file came from the cache)."""
    path = CACHE / f"course_{rows}.csv"
    if path.exists():
        return path, None
    CACHE.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "healthanalytics", "generate", "--rows", str(rows),
               "--out", str(path), "--layout", "course", "--seed", "42"]  # fmt: skip
    made = measure(command)
    console.print(
        f"generated {path.name} in {made.seconds:.1f} s (peak RSS {made.peak_rss / 1e6:,.0f} MB)"
    )
    return path, made.seconds


class Measured(NamedTuple):
    """One command's wall seconds, CPU seconds (user + system) and peak RSS (bytes), CPU and
    RSS over the whole process tree, and its stderr."""

    seconds: float
    cpu_seconds: float
    peak_rss: int
    stderr: str


def measure(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run one command and measure it."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    peak = 0
    seen_cpu: dict[int, float] = {}  # per process of the tree, its own user + system seconds
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree))
                seen_cpu.update((p.pid, sum(p.cpu_times()[:2])) for p in tree)
            except psutil.Error:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    done.set()
    sampler.join()
    # exact for the process and what it waited for; the samples also count what it did not
    # wait for, such as Spark's JVM
    waited = after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime
    cpu = max(waited, sum(seen_cpu.values()))
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr}")
    return Measured(seconds, cpu, peak, stderr)


def pipeline_run(fact: Path, work: Path, extra: list[str]) -> dict:
    """One `healthanalytics run` on `fact`: wall time, peak RSS, seconds per stage."""
    log = work / "run.log"
    log.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "healthanalytics",
        "run",
        "--fact",
        str(fact),
        "--output",
        str(work / "out"),
        "--log-file",
        str(log),
        *extra,
    ]
    if "--db" not in extra:
        (work / "out" / "healthanalytics.duckdb").unlink(missing_ok=True)
    run = measure(command)
    stages = {m.group(1): float(m.group(2)) for m in STAGE_LINE.finditer(log.read_text())}
    return {
        "seconds": run.seconds,
        "cpu_seconds": run.cpu_seconds,
        "peak_rss": run.peak_rss,
        "stages": stages,
    }


def bare_scan(fact: Path) -> float:
    """Seconds DuckDB needs to parse every column of the file with the pipeline's options."""
    with open(fact, newline="") as handle:
        header = next(csv.reader(handle))
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "}"
    con = duckdb.connect()
    began = time.perf_counter()
    con.sql(
        f"SELECT count(*), sum(hash(COLUMNS(*))) FROM read_csv('{fact}', columns={columns}, "
        "header=true, delim=',', quote='\"', escape='\"', auto_detect=false)"
    ).fetchall()
    seconds = time.perf_counter() - began
    con.close()
    return seconds


def median_of(runs: list[dict]) -> dict:
    stages = {
        k: statistics.median(r["stages"].get(k, 0.0) for r in runs) for k in runs[0]["stages"]
    }
    ratios = [r["seconds"] / r["bare_scan_seconds"] for r in runs]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "each_seconds": [round(r["seconds"], 2) for r in runs],
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_rss": max(r["peak_rss"] for r in runs),
        "stages": stages,
        "bare_scan_seconds": statistics.median(r["bare_scan_seconds"] for r in runs),
        "each_bare_scan_seconds": [round(r["bare_scan_seconds"], 2) for r in runs],
        "ratio_to_bare_scan": statistics.median(ratios),
        "each_ratio": [round(ratio, 2) for ratio in ratios],
    }


@contextmanager
def postgres_target(url: str | None) -> Iterator[str | None]:
    """The URL given, or a throwaway PostgreSQL cluster for the run ("auto"), or none."""
    if url != "auto":
        yield url
        return
    sys.path.insert(0, str(HERE.parent))
    from tests.postgres_server import throwaway_cluster

    with throwaway_cluster() as admin_url:
        yield admin_url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 25_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--postgres",
        default="auto",
        help="postgresql:// target for the PostgreSQL column; 'auto' starts a throwaway "
        "server from the installed binaries; 'none' skips it",
    )
    parser.add_argument("--spark-sizes", type=int, nargs="*", default=[1_000_000, 5_000_000])
    parser.add_argument("--memory-limit", default="2GB", help="extra run on the largest file")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    args = parser.parse_args()

    results: list[dict] = []
    generated: dict[int, float] = {}
    with postgres_target(None if args.postgres == "none" else args.postgres) as pg_url:
        for rows in args.sizes:
            fact, seconds = cached_file(rows)
            if seconds is not None:
                generated[rows] = seconds
            results += bench_size(rows, fact, args, pg_url)

    show(results)
    for rows, seconds in generated.items():
        console.print(f"generating {rows:,} rows took {seconds:.1f} s")
    growth = time_growth(results, sorted(args.sizes))
    if growth:
        console.print(growth)
    args.json.write_text(
        json.dumps({"runs": results, "generate_seconds": generated}, indent=2) + "\n"
    )
    console.print(f"figures written to {args.json}")


def bench_size(rows: int, fact: Path, args: argparse.Namespace, pg_url: str | None) -> list[dict]:
    """Every variant on one file: median of `repeat` runs each. Each run follows its own bare
    scan of the file, so that the ratio compares figures taken a moment apart: on a shared
    machine the scan alone moved by half from one hour to the next."""
    variants: dict[str, list[str]] = {"duckdb": []}
    if pg_url:
        variants["duckdb -> postgresql"] = ["--db", pg_url]
    if rows in args.spark_sizes and importlib.util.find_spec("pyspark"):
        variants["spark local[2]"] = ["--engine", "spark", "--master", "local[2]"]
    if rows == max(args.sizes) and args.memory_limit:
        variants[f"duckdb --memory-limit {args.memory_limit}"] = [
            "--memory-limit",
            args.memory_limit,
        ]
    entries = []
    for name, extra in variants.items():
        repeat = 1 if "--memory-limit" in extra else args.repeat
        with tempfile.TemporaryDirectory(prefix="ha-bench-") as tmp:
            runs = [
                {"bare_scan_seconds": bare_scan(fact), **pipeline_run(fact, Path(tmp), extra)}
                for _ in range(repeat)
            ]
        entry = {"rows": rows, "variant": name, "file_bytes": fact.stat().st_size,
                 **median_of(runs)}  # fmt: skip
        entry["rows_per_second"] = rows / entry["seconds"]
        entries.append(entry)
        console.print(
            f"{rows:,} rows, {name}: {entry['seconds']:.1f} s, "
            f"{entry['ratio_to_bare_scan']:.2f}x the bare scan"
        )
    return entries


def time_growth(results: list[dict], sizes: list[int]) -> str | None:
    seconds = {r["rows"]: r["seconds"] for r in results if r["variant"] == "duckdb"}
    if len(sizes) < 2 or sizes[-1] not in seconds or sizes[-2] not in seconds:
        return None
    growth = seconds[sizes[-1]] / seconds[sizes[-2]]
    return (
        f"time growth {sizes[-1]:,} / {sizes[-2]:,} rows: {growth:.2f}x "
        f"(rows grew {sizes[-1] / sizes[-2]:.1f}x)"
    )


def show(results: list[dict]) -> None:
    stages = sorted(
        {s for r in results for s in r.get("stages", {})},
        key=["connect", "ingest", "clean", "reports", "quality", "files", "persist"].index,
    )
    table = Table(title="healthanalytics run (median wall seconds)")
    for column in [
        "rows",
        "variant",
        "file MB",
        *stages,
        "total s",
        "CPU s",
        "rows/s",
        "peak RSS MB",
        "bare scan s",
        "ratio",
    ]:
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            f"{r['rows']:,}",
            r["variant"],
            f"{r['file_bytes'] / 1e6:,.0f}",
            *[f"{r['stages'].get(s, 0):.1f}" for s in stages],
            f"{r['seconds']:.1f}",
            f"{r['cpu_seconds']:.1f}",
            f"{r['rows_per_second']:,.0f}",
            f"{r['peak_rss'] / 1e6:,.0f}",
            f"{r['bare_scan_seconds']:.1f}",
            f"{r['ratio_to_bare_scan']:.2f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
