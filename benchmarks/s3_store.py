"""The S3 variant's store: the tests' loopback S3 server (moto's server mode, `tests/s3_server.py`)
in a process of its own, holding one size's fact file and the city dimension, and what the store
itself costs: the upload, a bare GET of the fact file (whole, and one 8 MiB range), the server's
memory and CPU over a block, and the requests a run made.

moto keeps every object (in a temporary file past 5 MB, in memory below) and answers a range GET
by reading the whole object, so the benchmark deletes each run's output between turns and starts
one server per size.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
CHUNK = 64 * 1024 * 1024  # multipart part size of the upload
RANGE = 8 * 1024 * 1024  # the one range GET timed
OUTPUT_PREFIX = "out"
# werkzeug's request log line: 127.0.0.1 - - [01/Dec/2026 12:16:01] "GET /bucket/key HTTP/1.1" 200 -
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours the 206 and 404 lines
REQUEST_LINE = re.compile(r'\] "([A-Z]+) ([^ ?"]+)\S* HTTP/[0-9.]+" ')


@contextmanager
def watching(process: psutil.Process) -> Iterator[dict[str, float]]:
    """`process`'s peak RSS (bytes, sampled every 50 ms) and CPU seconds (user + system) over
    the block, and its RSS at the end (`rss_after`); filled in when the block ends."""
    figures = {"peak_rss": float(process.memory_info().rss)}
    began = sum(process.cpu_times()[:2])
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                figures["peak_rss"] = max(figures["peak_rss"], process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield figures
    finally:
        done.set()
        sampler.join()
        figures["cpu_seconds"] = sum(process.cpu_times()[:2]) - began
        figures["rss_after"] = float(process.memory_info().rss)


@dataclass(frozen=True)
class S3Store:
    """One size's loopback store: the `s3://` URIs a run is given, its AWS environment, and the
    figures of filling it."""

    server: psutil.Process
    bucket: Any  # tests.s3_server.Bucket
    log: Path  # the server's request lines
    env: dict[str, str | None]
    fact: str
    city: str
    output: str
    upload_seconds: float
    upload_peak_rss: float  # the server's
    get_seconds: float  # one GET of the whole fact file, streamed by boto3
    range_get_seconds: float  # one GET of RANGE bytes from the middle of the fact file
    fact_key: str

    def requests(self) -> Counter[str]:
        """Requests the server has answered so far, per method, and the GETs of the fact file
        (`fact GET`)."""
        counts: Counter[str] = Counter()
        fact = f"/{self.bucket.name}/{self.fact_key}"
        text = ANSI_COLOUR.sub("", self.log.read_text(errors="replace"))
        for method, path in REQUEST_LINE.findall(text):
            counts[method] += 1
            counts["fact GET"] += method == "GET" and path == fact
        return counts

    def clear_output(self) -> None:
        """Delete every object under the runs' output prefix, so the server holds one run's
        output at most."""
        keys = self.bucket.keys(f"{OUTPUT_PREFIX}/")
        for start in range(0, len(keys), 1000):
            objects = [{"Key": key} for key in keys[start : start + 1000]]
            self.bucket.client.delete_objects(
                Bucket=self.bucket.name, Delete={"Objects": objects, "Quiet": True}
            )


@contextmanager
def s3_store(fact: Path, city: Path, work: Path) -> Iterator[S3Store]:
    """A loopback S3 server holding `fact` and `city` (uploaded by boto3 in multipart parts of
    CHUNK bytes), stopped when the block ends."""
    import boto3.s3.transfer

    sys.path.insert(0, str(HERE.parent))
    from tests.s3_server import fake_aws_environment, loopback_s3_process, new_bucket

    log = work / "moto.log"
    with loopback_s3_process(log) as (endpoint, pid):
        server = psutil.Process(pid)
        bucket = new_bucket(endpoint, prefix="ha-bench")
        config = boto3.s3.transfer.TransferConfig(
            multipart_threshold=CHUNK, multipart_chunksize=CHUNK, max_concurrency=2
        )
        fact_key, city_key = f"fact/{fact.name}", f"dims/{city.name}"
        with watching(server) as upload:
            began = time.perf_counter()
            bucket.client.upload_file(str(fact), bucket.name, fact_key, Config=config)
            bucket.client.upload_file(str(city), bucket.name, city_key, Config=config)
            upload_seconds = time.perf_counter() - began
        began = time.perf_counter()
        body = bucket.client.get_object(Bucket=bucket.name, Key=fact_key)["Body"]
        for _ in body.iter_chunks(1024 * 1024):
            pass
        get_seconds = time.perf_counter() - began
        middle = fact.stat().st_size // 2
        began = time.perf_counter()
        bucket.client.get_object(
            Bucket=bucket.name, Key=fact_key, Range=f"bytes={middle}-{middle + RANGE - 1}"
        )["Body"].read()
        range_get_seconds = time.perf_counter() - began
        yield S3Store(
            server=server,
            bucket=bucket,
            log=log,
            env=fake_aws_environment(endpoint, work),
            fact=bucket.uri(fact_key),
            city=bucket.uri(city_key),
            output=bucket.uri(OUTPUT_PREFIX),
            upload_seconds=upload_seconds,
            upload_peak_rss=upload["peak_rss"],
            get_seconds=get_seconds,
            range_get_seconds=range_get_seconds,
            fact_key=fact_key,
        )
