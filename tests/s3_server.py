"""A real S3-compatible server on loopback for the tests: moto's server mode (its S3 API over
HTTP, with pagination, conditional writes and versioning), and a bucket helper.

`loopback_s3()` starts it on a free port of 127.0.0.1 and stops it when the block ends, also
when a test fails; `loopback_s3_process()` starts the same server in a process of its own (the
benchmarks measure its memory and CPU apart from the client's). `fake_aws_environment` is the
standard AWS environment a run is given: fake keys, a region and `AWS_ENDPOINT_URL`, and nothing
read from this machine's ~/.aws.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# fake credentials: moto accepts any; tests assert these never show in logs or tables
ACCESS_KEY_ID = "AKIAHEALTHANALYTICS0"
SECRET_ACCESS_KEY = "fake/Secret+Key-for-the-loopback-server0"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def loopback_s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 on a free port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def loopback_s3_process(log: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """moto's S3 server in a child process on 127.0.0.1 on a free port, its request lines
    written to `log`, `env` added to its environment; yields its endpoint URL and process id,
    and stops it when the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    try:
        _wait_for_port(port, server, log)
        yield f"http://127.0.0.1:{port}", server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for_port(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto's server stopped at start:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto's server did not listen on port {port} within 60 s")


def fake_aws_environment(endpoint: str, home: Path) -> dict[str, str | None]:
    """The AWS_* variables a run against `endpoint` gets (None: unset): fake static keys, the
    region, the endpoint, and shared config files that do not exist, so no profile, role or
    instance metadata of this machine is used."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": None,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": None,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": None,
        "AWS_RETRY_MODE": None,
    }


@dataclass
class Bucket:
    """A bucket of the loopback server, with what tests need to fill and inspect it."""

    name: str
    client: Any  # a boto3 S3 client talking to the server directly

    def uri(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"

    def put(self, key: str, data: bytes | Path) -> str:
        """Upload bytes or a local file as `key`; its s3:// URI."""
        body = data.read_bytes() if isinstance(data, Path) else data
        self.client.put_object(Bucket=self.name, Key=key, Body=body)
        return self.uri(key)

    def put_folder(self, prefix: str, folder: Path) -> str:
        """Upload every file below `folder` under `prefix/`; the prefix's s3:// URI."""
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.put(f"{prefix}/{path.relative_to(folder).as_posix()}", path)
        return self.uri(f"{prefix}/")

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def new_bucket(endpoint: str, prefix: str = "ha-test") -> Bucket:
    """A new, empty bucket with a unique name on the server at `endpoint`."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(name, client)
