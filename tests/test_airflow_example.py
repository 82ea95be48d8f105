"""The example Airflow DAG (examples/airflow/launch_delivery_dag.py), without Airflow: Airflow is
heavy and not a dependency of the package, so the few names the DAG file imports from it are
stood in for here. Checked: the file compiles and defines one yearly DAG; the command line it
builds is accepted by `healthanalytics run` and gives the settings meant; only the retryable
exit codes are retried; no credential reaches the command line; and the task, run as a worker
runs it, delivers a data year from the loopback S3 server to S3 and PostgreSQL.

When HEALTHANALYTICS_AIRFLOW_PYTHON names the Python of an environment with Airflow 3
installed, the file is also loaded by Airflow's own DagBag there."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from healthanalytics.errors import ExitCode
from tests.conftest import CITIES, SAMPLE, read_tables

DAG_FILE = Path(__file__).resolve().parents[1] / "examples" / "airflow" / "launch_delivery_dag.py"


class AirflowException(Exception):
    pass


class AirflowFailException(AirflowException):
    pass


@dataclass
class FakeConnection:
    conn_id: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra

    @classmethod
    def get(cls, conn_id: str) -> FakeConnection:
        return CONNECTIONS[conn_id]


CONNECTIONS: dict[str, FakeConnection] = {}


class FakeDAG:
    """Records its arguments and the tasks called inside its block."""

    made: ClassVar[list[FakeDAG]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs, self.tasks = kwargs, []
        FakeDAG.made.append(self)

    def __enter__(self) -> FakeDAG:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def fake_task(**options: Any):
    def decorate(function):
        def call(*args, **kwargs):
            FakeDAG.made[-1].tasks.append((function, options))

        call.function = function
        return call

    return decorate


@pytest.fixture
def dag_module(monkeypatch) -> types.ModuleType:
    """The DAG file imported with stand-ins for `airflow.sdk` and `airflow.exceptions`."""
    airflow = types.ModuleType("airflow")
    sdk = types.ModuleType("airflow.sdk")
    sdk.DAG, sdk.Connection, sdk.task = FakeDAG, FakeConnection, fake_task
    exceptions = types.ModuleType("airflow.exceptions")
    exceptions.AirflowException = AirflowException
    exceptions.AirflowFailException = AirflowFailException
    for name, module in (("airflow", airflow), ("airflow.sdk", sdk),
                         ("airflow.exceptions", exceptions)):  # fmt: skip
        monkeypatch.setitem(sys.modules, name, module)
    FakeDAG.made.clear()
    spec = importlib.util.spec_from_file_location("launch_delivery_dag", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_yearly_dag_with_one_retried_task(dag_module):
    [dag] = FakeDAG.made
    assert dag.kwargs["dag_id"] == "healthanalytics_launch_delivery"
    assert dag.kwargs["schedule"] == "@yearly"
    assert dag.kwargs["start_date"] == dt.datetime(2013, 1, 1, tzinfo=dt.UTC)
    [(function, options)] = dag.tasks
    assert function.__name__ == "deliver" and options["retries"] > 0


def test_the_command_line_is_accepted_by_the_command(dag_module, monkeypatch, tmp_path):
    import healthanalytics.pipeline
    from healthanalytics.cli import app

    monkeypatch.chdir(tmp_path)  # the default log file goes here
    seen = []
    monkeypatch.setattr(healthanalytics.pipeline, "run_pipeline", lambda s, *a: seen.append(s))
    command = dag_module.delivery_command("2022-01-01", "postgresql://analyst@db:5432/launch")
    assert command[:2] == ["healthanalytics", "run"]
    done = CliRunner().invoke(app, command[1:])
    # the settings validated; the fake pipeline returns no result, which the summary trips on
    assert [(s.fact, s.city, s.output, s.db_url, s.run_date, s.engine) for s in seen] == [
        ("s3://lake/cms/partd/2022/", "s3://lake/reference/us_cities.parquet",
         "s3://lake/healthanalytics", "postgresql://analyst@db:5432/launch",
         dt.date(2022, 1, 1), "duckdb"),
    ], done.output  # fmt: skip


def test_only_the_retryable_exit_codes_are_retried(dag_module):
    retryable = {code for code in ExitCode if code.retryable}
    assert retryable == dag_module.RETRYABLE_EXIT_CODES
    dag_module.check_exit_code(0)
    for code in ExitCode:
        if code == ExitCode.OK:
            continue
        expected = AirflowException if code.retryable else AirflowFailException
        with pytest.raises(AirflowException) as raised:
            dag_module.check_exit_code(int(code))
        assert type(raised.value) is expected, code


@pytest.mark.parametrize("code", [0, 3, 5])
def test_the_task_runs_the_command_with_credentials_in_its_environment(
    dag_module, tmp_path, monkeypatch, code
):
    # a stand-in for the command: writes what it was given, exits with `code`
    seen = tmp_path / "seen.json"
    fake = tmp_path / "healthanalytics"
    fake.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'env': dict(os.environ)}}, open({str(seen)!r}, 'w'))\n"
        f"sys.exit({code})\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(dag_module, "COMMAND", str(fake))
    CONNECTIONS.clear()
    CONNECTIONS["healthanalytics_warehouse"] = FakeConnection(
        "healthanalytics_warehouse", host="db.internal", port=5432, login="analyst",
        password="pg-secret-1", schema="launch",
    )  # fmt: skip
    CONNECTIONS["aws_default"] = FakeConnection(
        "aws_default", login="AKIAEXAMPLE", password="aws-secret-2",
        extra={"region_name": "eu-west-1", "endpoint_url": "http://127.0.0.1:9000"},
    )  # fmt: skip
    [(deliver, _)] = FakeDAG.made[-1].tasks
    if code == 0:
        deliver(ds="2021-01-01")
    else:
        with pytest.raises(AirflowException) as raised:
            deliver(ds="2021-01-01")
        retried = not isinstance(raised.value, AirflowFailException)
        assert retried == (code == ExitCode.UNAVAILABLE)
    given = json.loads(seen.read_text())
    assert given["argv"] == ["run", "--fact", "s3://lake/cms/partd/2021/",
                             "--city", "s3://lake/reference/us_cities.parquet",
                             "--output", "s3://lake/healthanalytics",
                             "--db", "postgresql://analyst@db.internal:5432/launch",
                             "--run-date", "2021-01-01"]  # fmt: skip
    assert not any("secret" in arg for arg in given["argv"])
    env = given["env"]
    assert env["PGPASSWORD"] == "pg-secret-1"
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE"
    assert env["AWS_SECRET_ACCESS_KEY"] == "aws-secret-2"
    assert (env["AWS_REGION"], env["AWS_ENDPOINT_URL"]) == ("eu-west-1", "http://127.0.0.1:9000")


@pytest.mark.skipif(
    not os.environ.get("HEALTHANALYTICS_AIRFLOW_PYTHON"),
    reason="no Airflow environment given (HEALTHANALYTICS_AIRFLOW_PYTHON)",
)
def test_airflow_loads_the_dag_file(tmp_path):
    script = (
        "import sys\nfrom airflow.models.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAG_FILE)!r}, include_examples=False)\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(sorted(bag.dag_ids))\n"
    )
    done = subprocess.run(
        [os.environ["HEALTHANALYTICS_AIRFLOW_PYTHON"], "-c", script],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "AIRFLOW_HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "healthanalytics_launch_delivery" in done.stdout


def test_the_task_delivers_a_data_year_from_s3_to_s3_and_postgresql(
    dag_module, s3_bucket, s3_endpoint, pg_url, tmp_path, monkeypatch
):
    # the task as a worker runs it, with the real command: inputs and outputs on the loopback
    # S3 server, tables in PostgreSQL, credentials from the two connections only
    from urllib.parse import urlsplit

    from healthanalytics.io.publish import read_delivery
    from tests.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

    s3_bucket.put("cms/partd/2021/part-0.csv", SAMPLE)
    s3_bucket.put("reference/us_cities.parquet", CITIES)
    command = tmp_path / "healthanalytics"
    command.write_text(f'#!/bin/sh\nexec {sys.executable} -m healthanalytics "$@"\n')
    command.chmod(0o755)
    for name, value in (("COMMAND", str(command)),
                        ("FACT_URI", s3_bucket.uri("cms/partd/{year}/")),
                        ("CITY_URI", s3_bucket.uri("reference/us_cities.parquet")),
                        ("OUTPUT_URI", s3_bucket.uri("out"))):  # fmt: skip
        monkeypatch.setattr(dag_module, name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)  # the AWS connection alone gives them
    monkeypatch.chdir(tmp_path)  # the command's default log file
    url = urlsplit(pg_url)
    CONNECTIONS.clear()
    CONNECTIONS["healthanalytics_warehouse"] = FakeConnection(
        "healthanalytics_warehouse", host=url.hostname, port=url.port, login=url.username,
        password=url.password, schema=url.path.lstrip("/"),
    )  # fmt: skip
    CONNECTIONS["aws_default"] = FakeConnection(
        "aws_default", login=ACCESS_KEY_ID, password=SECRET_ACCESS_KEY,
        extra={"region_name": REGION, "endpoint_url": s3_endpoint},
    )  # fmt: skip
    [(deliver, _)] = FakeDAG.made[-1].tasks
    runs = []
    for _ in range(2):  # a re-run of the date replaces its delivery: no clean-up in between
        deliver(ds="2021-01-01")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)  # for this process' reader
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        monkeypatch.setenv("AWS_REGION", REGION)
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
        delivery = read_delivery(s3_bucket.uri("out"), "2021-01-01", checksums=True)
        runs.append(delivery.run_id)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                     "AWS_ENDPOINT_URL"):  # fmt: skip
            monkeypatch.delenv(name)
    tables = read_tables(pg_url)
    assert [(r["run_id"], r["status"], r["run_date"]) for r in
            tables["pipeline_runs"].to_pylist()] == [
        (run, "success", dt.date(2021, 1, 1)) for run in runs
    ]  # fmt: skip
    assert runs[0] != runs[1]
    assert tables["city_report"].num_rows > 0
