"""The DuckDB engine reading s3:// inputs from a real S3-compatible server (moto on loopback,
tests/s3_server.py), with the standard AWS environment a user sets.

Every input form gives the tables the same run gives from local files; bad inputs give the
local run's one-line error naming the s3:// object; no credential shows in a log, an error or
pipeline_runs; 503 SlowDown bursts and connection resets (tests/s3_faults.py) are survived
below the retry limit and end the run in one line above it.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from healthanalytics.contracts import TABLES
from tests.integrity.conftest import CITIES, SAMPLE, Outcome, read_tables, run_case
from tests.integrity.test_reading import COMPRESSED_FAULTS
from tests.s3_faults import FaultProxy, fault_proxy, faults_on, faults_per_request
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Bucket
from tests.test_cli_end_to_end import run_cli
from tests.test_cli_inputs import variants

# pipeline_runs columns that differ between any two runs, or name the input
RUN_OWN = ("run_id", "started_at", "finished_at", "fact_source", "pid")
TOKEN = "FakeSessionToken//for+the+loopback+server=="


def comparable(outcome: Outcome) -> dict[str, list[Any]]:
    """Every persisted table whole, rows in a stable order; pipeline_runs without the
    columns that differ from run to run."""
    assert outcome.error is None, outcome.error
    found = {}
    for name in TABLES:
        rows = outcome.tables[name].to_pylist()
        if name == "pipeline_runs":
            rows = [{k: v for k, v in row.items() if k not in RUN_OWN} for row in rows]
        found[name] = sorted(rows, key=repr)
    return found


def mixed_line_endings(data: bytes) -> bytes:
    """The lines ending in LF, CRLF and CR in turn: DuckDB reads a normalised scratch copy."""
    lines = data.decode().splitlines()
    ends = ["\n", "\r\n", "\r"]
    return "".join(line + ends[i % 3] for i, line in enumerate(lines)).encode()


def cp1252_text(data: bytes) -> bytes:
    """The sample with a name holding a curly apostrophe (0x92 in cp1252, which DuckDB does
    not decode: it reads a UTF-8 scratch copy)."""
    return data.decode().replace("JOHNSON", "O\u2019JOHNSON").encode("cp1252")


@pytest.fixture(scope="module")
def local_inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("s3-inputs")
    found = variants(folder)
    data = SAMPLE.read_bytes()
    for name, blob in (
        ("plain.csv", data),
        ("endings.csv", mixed_line_endings(data)),
        ("cp1252.csv", cp1252_text(data)),
    ):
        (folder / name).write_bytes(blob)
        found[name.split(".")[0]] = folder / name
    out = io.BytesIO()
    pacsv.write_csv(pq.read_table(CITIES), out)
    (folder / "cities.csv").write_bytes(out.getvalue())
    found["city_csv"] = folder / "cities.csv"
    found["city_parquet"] = CITIES
    return found


def upload(bucket: Bucket, path: Path) -> str:
    """`path` (a file or a folder of parts) in the bucket under its own name."""
    if path.is_dir():
        return bucket.put_folder(path.name, path)
    return bucket.put(f"in/{path.name}", path)


@pytest.mark.parametrize(
    "form,city,settings",
    [
        ("plain", "city_parquet", {}),
        ("gzip", "city_parquet", {}),
        ("bzip2", "city_parquet", {}),  # DuckDB reads a decompressed scratch copy
        ("zstd", "city_parquet", {}),
        ("parquet", "city_parquet", {}),
        ("folder", "city_parquet", {}),  # a prefix of part files
        ("no_suffix", "city_parquet", {}),  # gzip told by its first bytes
        ("endings", "city_parquet", {}),  # a scratch copy with every line ending in LF
        ("cp1252", "city_parquet", {"encoding": "cp1252"}),  # a UTF-8 scratch copy
        ("plain", "city_csv", {}),  # the city dimension as CSV
    ],
)
def test_inputs_on_s3_give_the_tables_of_local_files(
    s3_bucket, local_inputs, tmp_path, form, city, settings
):
    local = run_case(
        local_inputs[form], city=local_inputs[city], output=tmp_path / "local",
        db=str(tmp_path / "local.duckdb"), **settings,
    )  # fmt: skip
    fact = upload(s3_bucket, local_inputs[form])
    remote = run_case(
        fact, city=upload(s3_bucket, local_inputs[city]), output=tmp_path / "s3",
        db=str(tmp_path / "s3.duckdb"), **settings,
    )  # fmt: skip
    assert comparable(remote) == comparable(local)
    assert remote.record["fact_source"] == fact


def local_and_s3_errors(
    bucket: Bucket, tmp_path: Path, name: str, data: bytes | None, **settings: Any
) -> tuple[str | None, str | None, str, str]:
    """The errors of the same run from a local file and from S3 (no file or object at all when
    `data` is None), with the two paths."""
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    uri = bucket.uri(f"in/{name}")
    if data is not None:
        path.write_bytes(data)
        bucket.put(f"in/{name}", data)
    local = run_case(path, output=tmp_path / "a", db=str(tmp_path / "a.duckdb"), **settings)
    remote = run_case(uri, output=tmp_path / "b", db=str(tmp_path / "b.duckdb"), **settings)
    return local.error, remote.error, str(path), uri


@pytest.mark.parametrize("fault", list(COMPRESSED_FAULTS))
def test_compressed_input_cut_or_damaged_on_s3_is_named(s3_bucket, tmp_path, fault):
    # each of the local integrity corpus' cut or damaged streams, read from S3
    name, data, message = COMPRESSED_FAULTS[fault]
    local, remote, _, uri = local_and_s3_errors(s3_bucket, tmp_path, name, data)
    assert remote == message.format(path=uri)
    assert local == message.format(path=str(tmp_path / "in" / name))


def _zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("fact.csv", data)
    return out.getvalue()


def _bad_row(data: bytes) -> bytes:
    lines = data.decode().splitlines(keepends=True)
    lines[50] = lines[50].rstrip("\n") + ",extra\n"  # line 51 has a field too many
    return "".join(lines).encode()


@pytest.mark.parametrize(
    "name,data,expected",
    [
        # a missing object
        ("nothing.csv", None, "fact file not found: {path} — check the path or pass --fact."),
        # a missing prefix (a folder that is not there)
        ("nothing/", None, "fact file not found: {path} — check the path or pass --fact."),
        # a zip archive, told by its first bytes
        (
            "fact.csv",
            _zip(SAMPLE.read_bytes()),
            "{path} is a zip archive: unzip it and point --fact at the CSV or Parquet file inside.",
        ),
        # a malformed row, found again through s3fs after DuckDB refused it
        (
            "fact.csv",
            _bad_row(SAMPLE.read_bytes()),
            "{path}: line 51: expected 22 columns, found 23 (",
        ),
        # a truncated gzip file
        (
            "fact.csv.gz",
            gzip.compress(SAMPLE.read_bytes())[:-300],
            "{path} is truncated or "
            "corrupt: its gzip data ends before the end of the compressed stream",
        ),
    ],
)
def test_bad_input_on_s3_gives_the_local_error_naming_the_object(
    s3_bucket, tmp_path, name, data, expected
):
    local, remote, path, uri = local_and_s3_errors(s3_bucket, tmp_path, name, data)
    assert remote is not None and remote.startswith(expected.format(path=uri))
    assert remote == local.replace(path, uri)


def test_other_uri_schemes_are_refused_by_the_duckdb_engine(tmp_path):
    outcome = run_case("gs://bucket/fact.csv", output=tmp_path / "o", db=str(tmp_path / "w"))
    assert outcome.error == (
        "gs://bucket/fact.csv cannot be read: the duckdb engine reads local paths and s3:// "
        "URIs; the Spark engine (--engine spark) reads any scheme its cluster's Hadoop "
        "configuration supports"
    )


# --- credentials ------------------------------------------------------------------------------


def test_no_credential_in_logs_errors_or_pipeline_runs(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    fact = s3_bucket.put("in/fact.csv.gz", gzip.compress(SAMPLE.read_bytes()))
    db, log = str(tmp_path / "w.duckdb"), tmp_path / "run.log"
    common = ("--output", str(tmp_path / "out"), "--db", db, "--log-file", str(log), "-v")
    done = run_cli("--fact", fact, *common, "--run-date", "2026-01-15", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    failed = run_cli("--fact", s3_bucket.uri("in/missing.csv"), *common, cwd=tmp_path)
    assert failed.returncode == 1
    assert "s3://" in log.read_text()  # the log does speak of S3, only without credentials
    seen = [done.stdout, done.stderr, failed.stdout, failed.stderr, log.read_text(),
            repr(read_tables(db)["pipeline_runs"].to_pylist())]  # fmt: skip
    for secret in (ACCESS_KEY_ID, SECRET_ACCESS_KEY, TOKEN):
        assert not any(secret in text for text in seen), secret


def test_settings_come_from_a_profile_of_the_shared_files(s3_endpoint, s3_bucket, tmp_path,
                                                          monkeypatch):  # fmt: skip
    # no key, region or endpoint in the environment: AWS_PROFILE picks them from the files
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text(
        f"[profile lake]\nregion = us-east-1\nservices = loopback\n"
        f"[services loopback]\ns3 =\n  endpoint_url = {s3_endpoint}\n"
    )
    credentials.write_text(
        f"[lake]\naws_access_key_id = {ACCESS_KEY_ID}\n"
        f"aws_secret_access_key = {SECRET_ACCESS_KEY}\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "lake")
    fact = s3_bucket.put("in/fact.csv", SAMPLE.read_bytes())
    outcome = run_case(fact, output=tmp_path / "out", db=str(tmp_path / "w.duckdb"))
    assert outcome.error is None
    local = run_case(SAMPLE, output=tmp_path / "l", db=str(tmp_path / "l.duckdb"))
    assert comparable(outcome) == comparable(local)


def test_an_unknown_profile_is_refused_in_one_line(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    outcome = run_case(s3_bucket.uri("in/f.csv"), output=tmp_path / "o", db=str(tmp_path / "w"))
    assert outcome.error == (
        "the AWS settings cannot be read (The config profile (nosuch) could not be found); "
        "check AWS_PROFILE and the shared config and credentials files"
    )


def test_the_httpfs_extension_missing_is_named_with_the_package_to_install():
    # the wheel's module hidden, as when the s3 extra is not installed
    code = (
        "import sys; sys.modules['duckdb_extension_httpfs'] = None\n"
        "from healthanalytics.engines.duckdb_s3 import httpfs_extension, S3ReadSetupError\n"
        "try:\n    httpfs_extension()\nexcept S3ReadSetupError as err:\n    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout == (
        "reading s3:// needs the httpfs extension: pip install 'healthanalytics[s3]'\n"
    )


def test_no_extension_is_installed_or_loaded_by_a_local_run(duckdb_engine):
    con = duckdb_engine.con.con
    settings = con.sql(
        "SELECT current_setting('autoinstall_known_extensions'), "
        "current_setting('autoload_known_extensions')"
    ).fetchone()
    assert settings == (False, False)
    loaded = con.sql("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'")
    assert loaded.fetchone() == (False,)


# --- faults: throttling and resets ------------------------------------------------------------


@pytest.fixture
def proxy(s3_endpoint, monkeypatch) -> Iterator[FaultProxy]:
    """The fault-injecting proxy in front of the server, as the run's AWS_ENDPOINT_URL."""
    with fault_proxy(s3_endpoint) as found:
        monkeypatch.setenv("AWS_ENDPOINT_URL", found.endpoint)
        yield found


@pytest.mark.parametrize("kind", ["503", "reset"])
def test_fault_bursts_below_the_retry_limit_are_survived(s3_bucket, proxy, tmp_path, kind):
    # every request of the run (s3fs's and DuckDB's) fails twice, then succeeds
    fact = s3_bucket.put("in/fact.csv.gz", gzip.compress(SAMPLE.read_bytes()))
    local = run_case(SAMPLE, output=tmp_path / "l", db=str(tmp_path / "l.duckdb"))
    proxy.plan = faults_per_request(2, kind)
    remote = run_case(fact, output=tmp_path / "s3", db=str(tmp_path / "s3.duckdb"))
    # s3fs's (listing, headers, verification) and DuckDB's (the data) requests both met faults
    assert proxy.faults["botocore"] >= 4 and proxy.faults["duckdb"] >= 4
    assert comparable(remote) == comparable(local)


FAILED = (
    "{uri}: the S3 request failed 3 times ({reason}): the store is unreachable or throttling; "
    "check the endpoint and the network, or try again later"
)


@pytest.mark.parametrize(
    "kind,client,reason",
    [
        ("503", "duckdb", "HTTP 503"),  # DuckDB's reads throttled for ever
        ("reset", "duckdb", "Failure when receiving data from the peer"),
        ("503", "botocore", "HTTP 503"),  # s3fs's requests (listing, headers) throttled
        ("reset", "botocore", 'Could not connect to the endpoint URL: "{url}"'),
    ],
)
def test_faults_past_the_retry_limit_end_the_run_in_one_line(
    s3_bucket, proxy, tmp_path, monkeypatch, kind, client, reason
):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    fact = s3_bucket.put("in/fact.csv.gz", gzip.compress(SAMPLE.read_bytes()))
    proxy.plan = faults_on("fact.csv.gz", kind, client)
    outcome = run_case(fact, output=tmp_path / "o", db=str(tmp_path / "w.duckdb"))
    url = f"{proxy.endpoint}/{s3_bucket.name}/in/fact.csv.gz"
    assert outcome.error == FAILED.format(uri=fact, reason=reason.format(url=url))
    assert [run["status"] for run in outcome.tables["pipeline_runs"].to_pylist()] == ["failed"]
    assert not outcome.tables["city_report"].num_rows


def test_fault_proxy_gives_faults_only_as_planned(s3_endpoint, s3_bucket):
    # the proxy itself: a planned 503, then the object passed through whole
    import urllib.error
    import urllib.request

    # public, so that unsigned requests may read it
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key="in/x", Body=b"hello", ACL="public-read")
    with fault_proxy(s3_endpoint) as proxy:
        proxy.plan = faults_per_request(1, "503")
        url = f"{proxy.endpoint}/{s3_bucket.name}/in/x"
        with pytest.raises(urllib.error.HTTPError, match="503"):
            urllib.request.urlopen(url)
        assert urllib.request.urlopen(url).read() == b"hello"
    assert proxy.faults == {"other": 1}
