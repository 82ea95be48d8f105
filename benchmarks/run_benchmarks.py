"""End-to-end benchmarks: generate (and cache) course-layout files, run the CLI on each as a user
would, and compare with a bare DuckDB scan of the same file, and the run with the launch
analysis with the same run without it (`--no-analysis`), and the run reading from and writing to
a loopback S3 server with the same run on local files. Prints tables, writes JSON.

    make bench              # 1M, 5M and 25M rows, median of 3; PostgreSQL, Spark and S3 rows
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
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NamedTuple

import duckdb
import psutil
from page_load import page_figures
from rich.console import Console
from rich.table import Table
from s3_store import S3Store, s3_store, watching

from healthanalytics.config import SAMPLE_CITIES
from healthanalytics.io.inputs import bundled

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
# Part of a cached file's name: raise it when the generator's output changes (2: the planted
# market structure), so an older cached file is not taken for the new one.
GENERATOR_VERSION = 2
STAGE_LINE = re.compile(r"stage (\w+): end after ([0-9.]+) s(?: \((.*)\))?$", re.MULTILINE)
STAGE_ORDER = ["connect", "ingest", "clean", "reports", "analysis", "quality", "files", "persist",
               "brief", "publish"]  # fmt: skip
WITH_ANALYSIS, WITHOUT_ANALYSIS = "duckdb", "duckdb --no-analysis"
ON_S3 = "duckdb s3 -> s3"
console = Console(width=200)


def cached_file(rows: int) -> tuple[Path, float | None]:
    """A generated course-layout CSV of `rows` rows, made once and kept in benchmarks/.cache;
    with the seconds generation took (None when the file came from the cache)."""
    path = CACHE / f"course_{rows}_v{GENERATOR_VERSION}.csv"
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


def measure(command: list[str], env: dict[str, str | None] | None = None) -> Measured:
    """Run one command and measure it; `env` is added to this process' environment (None:
    unset)."""
    environment = {**os.environ, **(env or {})}
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={name: value for name, value in environment.items() if value is not None},
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


def pipeline_run(
    fact: Path | str,
    work: Path,
    extra: list[str],
    output: str | None = None,
    env: dict[str, str | None] | None = None,
) -> dict:
    """One `healthanalytics run` on `fact` into `output` (default `work/out`): wall time, peak
    RSS, seconds per stage, and the analysis stage's outcome (its log detail: the market's
    summary, `skipped ...` or `failed ...`)."""
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
        output or str(work / "out"),
        "--log-file",
        str(log),
        *extra,
    ]
    if "--db" not in extra:
        (work / "out" / "healthanalytics.duckdb").unlink(missing_ok=True)
    run = measure(command, env)
    ends = list(STAGE_LINE.finditer(log.read_text()))
    stages = {m.group(1): float(m.group(2)) for m in ends}
    analysis = next((m.group(3) or "" for m in ends if m.group(1) == "analysis"), "not run")
    return {
        "seconds": run.seconds,
        "cpu_seconds": run.cpu_seconds,
        "peak_rss": run.peak_rss,
        "stages": stages,
        "analysis": analysis,
    }


def s3_run(store: S3Store, work: Path) -> dict:
    """`pipeline_run` on the store's copies of the fact file and the city dimension, its
    reports to the store (the warehouse a local DuckDB file), with what the server spent on it:
    peak RSS, CPU seconds, requests; then the output deleted from the store."""
    before = store.requests()
    extra = ["--city", store.city, "--db", str(work / "out" / "healthanalytics.duckdb")]
    with watching(store.server) as server:
        run = pipeline_run(store.fact, work, extra, output=store.output, env=store.env)
    requests = store.requests() - before
    store.clear_output()
    return {
        **run,
        "server_peak_rss": server["peak_rss"],
        "server_cpu_seconds": server["cpu_seconds"],
        "server_rss_after_clearing": store.server.memory_info().rss,
        "requests": dict(requests),
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
        "analysis": sorted({r["analysis"] for r in runs}),
        **_page_median(runs),
    }


def _page_median(runs: list[dict]) -> dict:
    """The launch brief's size and median load time, of the runs that measured them."""
    sizes = [r["brief_bytes"] for r in runs if r.get("brief_bytes") is not None]
    loads = [r["page_load_seconds"] for r in runs if r.get("page_load_seconds") is not None]
    return {
        "brief_bytes": max(sizes) if sizes else None,
        "page_load_seconds": statistics.median(loads) if loads else None,
        "each_page_load_seconds": [round(s, 3) for s in loads],
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
        "--analysis-sizes",
        type=int,
        nargs="*",
        default=None,
        help="sizes that also run on DuckDB with --no-analysis, by turns with the run with it "
        "(default: every size; none: --analysis-sizes alone)",
    )
    parser.add_argument(
        "--postgres",
        default="auto",
        help="postgresql:// target for the PostgreSQL column; 'auto' starts a throwaway "
        "server from the installed binaries; 'none' skips it",
    )
    parser.add_argument("--spark-sizes", type=int, nargs="*", default=[1_000_000, 5_000_000])
    parser.add_argument(
        "--s3-sizes",
        type=int,
        nargs="*",
        default=[5_000_000, 25_000_000],
        help="sizes that also run from and to a loopback S3 server (moto), by turns with the "
        "local run",
    )
    parser.add_argument("--memory-limit", default="2GB", help="extra run on the largest file")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    if args.analysis_sizes is None:
        args.analysis_sizes = list(args.sizes)

    results: list[dict] = []
    generated: dict[int, float] = {}
    with postgres_target(None if args.postgres == "none" else args.postgres) as pg_url:
        for rows in args.sizes:
            fact, seconds = cached_file(rows)
            if seconds is not None:
                generated[rows] = seconds
            results += bench_size(rows, fact, args, pg_url)

    show(results)
    analysis = analysis_cost(results)
    if analysis:
        show_analysis(analysis)
    s3 = s3_cost(results)
    if s3:
        show_s3(s3)
    for rows, seconds in generated.items():
        console.print(f"generating {rows:,} rows took {seconds:.1f} s")
    growth = time_growth(results, sorted(args.sizes))
    if growth:
        console.print(growth)
    args.json.write_text(
        json.dumps(
            {"runs": results, "analysis": analysis, "s3": s3, "generate_seconds": generated},
            indent=2,
        )
        + "\n"
    )
    console.print(f"figures written to {args.json}")


def bench_size(rows: int, fact: Path, args: argparse.Namespace, pg_url: str | None) -> list[dict]:
    """Every variant on one file: median of `repeat` runs each, the variants by turns (one run
    of each, then the next round), so that the runs with and without the analysis, say, are
    taken minutes apart, not a whole variant apart. Each run follows its own bare scan of the
    file, so that the ratio compares figures taken a moment apart: on a shared machine the scan
    alone moved by half from one hour to the next."""
    variants: dict[str, list[str]] = {WITH_ANALYSIS: []}
    if rows in args.analysis_sizes:
        variants[WITHOUT_ANALYSIS] = ["--no-analysis"]
    if pg_url:
        variants["duckdb -> postgresql"] = ["--db", pg_url]
    if rows in args.spark_sizes and importlib.util.find_spec("pyspark"):
        variants["spark local[2]"] = ["--engine", "spark", "--master", "local[2]"]
    if rows in args.s3_sizes:
        variants[ON_S3] = []
    if rows == max(args.sizes) and args.memory_limit:
        variants[f"duckdb --memory-limit {args.memory_limit}"] = [
            "--memory-limit",
            args.memory_limit,
        ]
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    with ExitStack() as stack:
        work = {
            name: Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ha-bench-")))
            for name in variants
        }
        store = None
        if ON_S3 in variants:
            store = stack.enter_context(s3_store(fact, Path(bundled(SAMPLE_CITIES)), work[ON_S3]))
        for turn in range(args.repeat):
            for name, extra in variants.items():
                if turn > 0 and "--memory-limit" in extra:
                    continue  # one run: it only shows the memory a limit saves
                scan = bare_scan(fact)
                if name == ON_S3 and store is not None:
                    run = s3_run(store, work[name])
                else:
                    run = pipeline_run(fact, work[name], extra)
                if name == WITH_ANALYSIS:
                    run |= page_figures(work[name] / "out" / "launch_brief.html")
                runs[name].append({"bare_scan_seconds": scan, **run})
                shutil.rmtree(work[name] / "out", ignore_errors=True)  # disk: one output at a time
    entries = []
    for name, done in runs.items():
        entry = {"rows": rows, "variant": name, "file_bytes": fact.stat().st_size,
                 **median_of(done)}  # fmt: skip
        entry["rows_per_second"] = rows / entry["seconds"]
        entry["each_stages"] = [r["stages"] for r in done]
        if name == ON_S3 and store is not None:
            entry["store"] = store_figures(store, done)
        entries.append(entry)
        console.print(
            f"{rows:,} rows, {name}: {entry['seconds']:.1f} s, "
            f"{entry['ratio_to_bare_scan']:.2f}x the bare scan"
        )
    return entries


def analysis_cost(results: list[dict]) -> list[dict]:
    """Per size run both ways: the analysis stage's seconds (and the brief's, which only a run
    with the analysis writes), the whole run with and without the analysis, their ratio (each
    turn's too), both CPU seconds (steadier than wall time on a shared machine) and both peak
    RSS."""
    by = {(r["rows"], r["variant"]): r for r in results}
    cost = []
    for rows in sorted({r["rows"] for r in results}):
        with_, without = by.get((rows, WITH_ANALYSIS)), by.get((rows, WITHOUT_ANALYSIS))
        if with_ is None or without is None:
            continue
        pairs = zip(with_["each_seconds"], without["each_seconds"], strict=True)
        cost.append({
            "rows": rows,
            "analysis_seconds": with_["stages"].get("analysis", 0.0),
            "each_analysis_seconds": [s.get("analysis", 0.0) for s in with_["each_stages"]],
            "brief_seconds": with_["stages"].get("brief", 0.0),
            "with_seconds": with_["seconds"],
            "without_seconds": without["seconds"],
            "added_seconds": with_["seconds"] - without["seconds"],
            "ratio": with_["seconds"] / without["seconds"],
            "each_ratio": [round(a / b, 2) for a, b in pairs],
            "with_cpu_seconds": with_["cpu_seconds"],
            "without_cpu_seconds": without["cpu_seconds"],
            "with_peak_rss": with_["peak_rss"],
            "without_peak_rss": without["peak_rss"],
            "analysis": with_["analysis"],
            "brief_bytes": with_["brief_bytes"],
            "page_load_seconds": with_["page_load_seconds"],
        })  # fmt: skip
    return cost


def store_figures(store: S3Store, runs: list[dict]) -> dict:
    """The loopback server's figures of one size: filling it, a bare GET of the fact file, and
    per run its peak RSS, CPU seconds, requests, and RSS once the run's output was deleted."""
    return {
        "upload_seconds": store.upload_seconds,
        "upload_server_peak_rss": store.upload_peak_rss,
        "get_seconds": store.get_seconds,
        "range_get_seconds": store.range_get_seconds,
        "each_server_peak_rss": [r["server_peak_rss"] for r in runs],
        "each_server_cpu_seconds": [round(r["server_cpu_seconds"], 2) for r in runs],
        "each_server_rss_after_clearing": [r["server_rss_after_clearing"] for r in runs],
        "each_requests": [r["requests"] for r in runs],
    }


def s3_cost(results: list[dict]) -> list[dict]:
    """Per size run both ways: the run from and to S3 against the local run (each turn's ratio
    too), the same without the brief stage (only a local run writes the launch brief), and the
    store's figures."""
    by = {(r["rows"], r["variant"]): r for r in results}
    cost = []
    for rows in sorted({r["rows"] for r in results}):
        local, s3 = by.get((rows, WITH_ANALYSIS)), by.get((rows, ON_S3))
        if local is None or s3 is None:
            continue
        pairs = zip(s3["each_seconds"], local["each_seconds"], strict=True)
        local_briefless = local["seconds"] - local["stages"].get("brief", 0.0)
        s3_briefless = s3["seconds"] - s3["stages"].get("brief", 0.0)
        cost.append({
            "rows": rows,
            "file_bytes": s3["file_bytes"],
            "local_seconds": local["seconds"],
            "s3_seconds": s3["seconds"],
            "ratio": s3["seconds"] / local["seconds"],
            "each_ratio": [round(a / b, 2) for a, b in pairs],
            "local_brief_seconds": local["stages"].get("brief", 0.0),
            "ratio_without_brief": s3_briefless / local_briefless,
            "local_ingest_seconds": local["stages"].get("ingest", 0.0),
            "s3_ingest_seconds": s3["stages"].get("ingest", 0.0),
            "local_cpu_seconds": local["cpu_seconds"],
            "s3_cpu_seconds": s3["cpu_seconds"],
            "s3_peak_rss": s3["peak_rss"],
            **s3["store"],
        })  # fmt: skip
    return cost


def show_s3(cost: list[dict]) -> None:
    table = Table(
        title="S3: the run reading from and writing to a loopback S3 server (moto) against the "
        "local run (DuckDB, median wall seconds; target at 5M and 25M rows: ratio <= 1.3)"
    )
    for column in ["rows", "local s", "S3 s", "ratio (each)", "ratio w/o brief", "ingest s local",
                   "ingest s S3", "CPU s local", "CPU s S3", "upload s", "GET s (MB/s)",
                   "8 MiB range GET s", "moto peak RSS MB", "moto CPU s", "fact GETs",
                   "moto RSS MB after clearing"]:  # fmt: skip
        table.add_column(column, justify="right")
    for c in cost:
        peak = max([c["upload_server_peak_rss"], *c["each_server_peak_rss"]])
        table.add_row(
            f"{c['rows']:,}",
            f"{c['local_seconds']:.1f}",
            f"{c['s3_seconds']:.1f}",
            f"{c['ratio']:.2f} ({', '.join(f'{r:.2f}' for r in c['each_ratio'])})",
            f"{c['ratio_without_brief']:.2f}",
            f"{c['local_ingest_seconds']:.1f}",
            f"{c['s3_ingest_seconds']:.1f}",
            f"{c['local_cpu_seconds']:.1f}",
            f"{c['s3_cpu_seconds']:.1f}",
            f"{c['upload_seconds']:.1f}",
            f"{c['get_seconds']:.1f} ({c['file_bytes'] / 1e6 / c['get_seconds']:,.0f})",
            f"{c['range_get_seconds']:.2f}",
            f"{peak / 1e6:,.0f}",
            f"{statistics.median(c['each_server_cpu_seconds']):.1f}",
            ", ".join(str(r.get("fact GET", 0)) for r in c["each_requests"]),
            ", ".join(f"{r / 1e6:,.0f}" for r in c["each_server_rss_after_clearing"]),
        )
    console.print(table)


def _outcome(details: list[str]) -> str:
    """`ok`, or the analysis stage's `failed ...` detail (the JSON keeps every detail)."""
    failed = [d for d in details if not d.startswith("market ")]
    return "; ".join(failed)[:80] if failed else "ok"


def show_analysis(cost: list[dict]) -> None:
    table = Table(
        title="launch analysis: the run with it against the same run with --no-analysis "
        "(DuckDB, median wall seconds; target at 25M rows: ratio <= 1.35, peak RSS <= 6 GB; "
        "the launch brief under 3 MB and loaded by Chromium in under 1 s)"
    )
    for column in ["rows", "analysis s (each)", "brief s", "with s", "without s", "added s",
                   "ratio (each)", "CPU s with", "CPU s without", "peak RSS MB with",
                   "peak RSS MB without", "brief MB", "page load s", "analysis"]:  # fmt: skip
        table.add_column(column, justify="right")
    for c in cost:
        each = ", ".join(f"{s:.2f}" for s in c["each_analysis_seconds"])
        table.add_row(
            f"{c['rows']:,}",
            f"{c['analysis_seconds']:.2f} ({each})",
            f"{c['brief_seconds']:.2f}",
            f"{c['with_seconds']:.2f}",
            f"{c['without_seconds']:.2f}",
            f"{c['added_seconds']:.2f}",
            f"{c['ratio']:.2f} ({', '.join(f'{r:.2f}' for r in c['each_ratio'])})",
            f"{c['with_cpu_seconds']:.1f}",
            f"{c['without_cpu_seconds']:.1f}",
            f"{c['with_peak_rss'] / 1e6:,.0f}",
            f"{c['without_peak_rss'] / 1e6:,.0f}",
            "-" if c["brief_bytes"] is None else f"{c['brief_bytes'] / 1e6:.2f}",
            "-" if c["page_load_seconds"] is None else f"{c['page_load_seconds']:.2f}",
            _outcome(c["analysis"]),
        )
    console.print(table)


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
    found = {s for r in results for s in r.get("stages", {})}
    stages = [s for s in STAGE_ORDER if s in found] + sorted(found - set(STAGE_ORDER))
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
