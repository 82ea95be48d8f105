"""End-to-end benchmarks: generate (and cache) course-layout files, run the CLI on each as a user
would, and compare with a bare DuckDB scan of the same file. Prints a table, writes JSON.

    make bench                                   # 1M, 5M and 25M rows, median of 3
    .venv/bin/python benchmarks/run_benchmarks.py --sizes 1000000 --repeat 1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import psutil
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
STAGE_LINE = re.compile(r"stage (\w+): end after ([0-9.]+) s")
console = Console()


def cached_file(rows: int) -> Path:
    """A generated course-layout CSV of `rows` rows, made once and kept in benchmarks/.cache."""
    path = CACHE / f"course_{rows}.csv"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        began = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "healthanalytics",
                "generate",
                "--rows",
                str(rows),
                "--out",
                str(path),
                "--layout",
                "course",
                "--seed",
                "42",
            ],
            check=True,
        )
        console.print(f"generated {path.name} in {time.perf_counter() - began:.1f} s")
    return path


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes, whole process tree) and stderr of one command."""
    began = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr}")
    return seconds, peak, stderr


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
    seconds, peak, _ = measure(command)
    stages = {m.group(1): float(m.group(2)) for m in STAGE_LINE.finditer(log.read_text())}
    return {"seconds": seconds, "peak_rss": peak, "stages": stages}


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
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_rss": max(r["peak_rss"] for r in runs),
        "stages": stages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 25_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="also run with this postgresql:// target")
    parser.add_argument("--memory-limit", default="2GB", help="extra run on the largest file")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    args = parser.parse_args()

    results = []
    for rows in args.sizes:
        fact = cached_file(rows)
        with tempfile.TemporaryDirectory(prefix="ha-bench-") as tmp:
            work = Path(tmp)
            scans = [bare_scan(fact) for _ in range(args.repeat)]
            variants = {"duckdb": []}
            if args.postgres:
                variants["duckdb+postgres"] = ["--db", args.postgres]
            for name, extra in variants.items():
                runs = [pipeline_run(fact, work, extra) for _ in range(args.repeat)]
                entry = {
                    "rows": rows,
                    "variant": name,
                    "file_bytes": fact.stat().st_size,
                    "bare_scan_seconds": statistics.median(scans),
                    **median_of(runs),
                }
                entry["rows_per_second"] = rows / entry["seconds"]
                entry["ratio_to_bare_scan"] = entry["seconds"] / entry["bare_scan_seconds"]
                results.append(entry)
                console.print(f"{rows:,} rows, {name}: {entry['seconds']:.1f} s")
        if rows == max(args.sizes) and args.memory_limit:
            with tempfile.TemporaryDirectory(prefix="ha-bench-") as tmp:
                run = pipeline_run(fact, Path(tmp), ["--memory-limit", args.memory_limit])
                results.append(
                    {
                        "rows": rows,
                        "variant": f"duckdb --memory-limit {args.memory_limit}",
                        "file_bytes": fact.stat().st_size,
                        **run,
                        "rows_per_second": rows / run["seconds"],
                    }
                )

    show(results)
    by_variant = {(r["rows"], r["variant"]): r for r in results}
    sizes = sorted(args.sizes)
    if (
        len(sizes) >= 2
        and (sizes[-1], "duckdb") in by_variant
        and (sizes[-2], "duckdb") in by_variant
    ):
        growth = (
            by_variant[(sizes[-1], "duckdb")]["seconds"]
            / by_variant[(sizes[-2], "duckdb")]["seconds"]
        )
        console.print(
            f"time growth {sizes[-1]:,} / {sizes[-2]:,} rows: {growth:.2f}x "
            f"(rows grew {sizes[-1] / sizes[-2]:.1f}x)"
        )
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"figures written to {args.json}")


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
            f"{r['rows_per_second']:,.0f}",
            f"{r['peak_rss'] / 1e6:,.0f}",
            f"{r.get('bare_scan_seconds', 0):.1f}",
            f"{r.get('ratio_to_bare_scan', 0):.2f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
