"""The example Airflow DAG (examples/airflow/launch_delivery_dag.py), run by Airflow 3 itself.

Airflow pins many packages and is not a dependency of the package, so it lives in a virtual
environment of its own: `make airflow` builds .venv-airflow from examples/airflow/requirements.txt
(pinned by constraints.txt beside it), and `make test` builds it and names its Python in
HEALTHANALYTICS_AIRFLOW_PYTHON, so these tests run there and fail, never skip, without it. Run
alone, they use that variable or .venv-airflow, and are skipped when neither is there.

Checked: Airflow's DagBag loads the file as one yearly DAG with one retried task; the exit codes
the task fails with at once are exactly the ones `healthanalytics.errors.ExitCode` says no retry
can help; and `airflow dags test` (Airflow's home in a temporary folder, its database SQLite,
its connections given as AIRFLOW_CONN_* variables) delivers data year 2021 from the loopback S3
server to S3 and a throwaway PostgreSQL database with the real command, then again, replacing
the delivery: credentials reach the command by its environment only."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from healthanalytics.contracts import TABLES
from healthanalytics.errors import ExitCode
from healthanalytics.io.publish import read_delivery
from tests.conftest import (
    CITIES,
    SAMPLE,
    assert_reports_match,
    assert_same_table,
    read_tables,
    run_case,
)
from tests.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

ROOT = Path(__file__).resolve().parents[1]
DAG_FILE = ROOT / "examples" / "airflow" / "launch_delivery_dag.py"
DAG_ID = "healthanalytics_launch_delivery"
AIRFLOW_PYTHON_ENV = "HEALTHANALYTICS_AIRFLOW_PYTHON"
# the throwaway cluster trusts local connections: the password is only carried, and looked for
PG_PASSWORD = "pg-secret-for-the-airflow-test"

# run by Airflow's Python: the DAG as DagBag loads it, and what each exit code raises
INSPECT = """
import importlib.util, json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowException, AirflowFailException

bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags[sys.argv[2]]
spec = importlib.util.spec_from_file_location("launch_delivery_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
outcome = {}
for code in json.loads(sys.argv[3]):
    try:
        module.check_exit_code(code)
        outcome[code] = "success"
    except AirflowFailException:
        outcome[code] = "failed at once"
    except AirflowException:
        outcome[code] = "retried"
print("INSPECTED", json.dumps({
    "import_errors": {str(path): str(err) for path, err in bag.import_errors.items()},
    "schedule": dag.schedule, "start_date": dag.start_date.isoformat(),
    "tasks": {task.task_id: task.retries for task in dag.tasks}, "exit_codes": outcome,
}))
"""


@pytest.fixture(scope="session")
def airflow_python() -> str:
    """The Python of the Airflow environment: the one named by HEALTHANALYTICS_AIRFLOW_PYTHON
    (which must exist), else .venv-airflow's; skips the test when neither is given (before the
    S3 and PostgreSQL servers start: a fixture of the session, asked for first)."""
    given = os.environ.get(AIRFLOW_PYTHON_ENV)
    if given:
        if not Path(given).is_file():
            pytest.fail(f"{AIRFLOW_PYTHON_ENV}={given}: no such file; `make airflow` builds it")
        return given
    default = ROOT / ".venv-airflow" / "bin" / "python"
    if not default.is_file():
        pytest.skip(
            f"no Airflow environment: `make airflow` builds .venv-airflow (`make test` does), "
            f"or set {AIRFLOW_PYTHON_ENV} to the Python of one with Airflow 3"
        )
    return str(default)


@pytest.fixture
def airflow_env(tmp_path) -> dict[str, str]:
    """The environment of a throwaway Airflow: its home and SQLite database in `tmp_path`, the
    DAG's folder, no example DAGs; nothing of this process' Airflow, AWS or libpq settings, so
    the task gets its credentials from its connections alone."""
    home = tmp_path / "airflow-home"
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "AWS_", "PG"))
    }
    return kept | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def airflow(python: str, env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The `airflow` command of the Airflow environment of `python`, its output kept."""
    return subprocess.run(
        [python, "-m", "airflow", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=480,
    )  # fmt: skip


def test_airflow_loads_one_yearly_dag_whose_retries_follow_the_exit_codes(
    airflow_python, airflow_env, tmp_path
):
    codes = [int(code) for code in ExitCode]
    done = subprocess.run(
        [airflow_python, "-c", INSPECT, str(DAG_FILE), DAG_ID, json.dumps(codes)],
        env=airflow_env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("INSPECTED ")]
    found = json.loads(line.removeprefix("INSPECTED "))
    assert found["import_errors"] == {}
    assert (found["schedule"], found["start_date"]) == ("@yearly", "2013-01-01T00:00:00+00:00")
    [(task, retries)] = found["tasks"].items()
    assert task == "deliver" and retries > 0
    # retried: another run, S3 or the database, a stop; failed at once: the same would fail again
    assert found["exit_codes"] == {
        str(int(code)): "success" if code == ExitCode.OK
        else "retried" if code.retryable else "failed at once"
        for code in ExitCode
    }  # fmt: skip


def test_airflow_dags_test_delivers_a_data_year_from_s3_to_s3_and_postgresql_twice(
    airflow_python, airflow_env, s3_bucket, s3_endpoint, pg_url, tmp_path
):
    s3_bucket.put("cms/partd/2021/part-0.csv", SAMPLE)
    s3_bucket.put("reference/us_cities.parquet", CITIES)
    # the command as installed, in this environment; it notes what it was given first
    given = tmp_path / "given.jsonl"
    command = tmp_path / "healthanalytics"
    command.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(given)!r}, 'a') as out:\n"
        "    env = {k: v for k, v in os.environ.items() if k.startswith(('AWS_', 'PG'))}\n"
        "    out.write(json.dumps({'argv': sys.argv[1:], 'env': env}) + '\\n')\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'healthanalytics', *sys.argv[1:]])\n"
    )
    command.chmod(0o755)
    pg = urlsplit(pg_url)
    warehouse = {"conn_type": "postgres", "host": pg.hostname, "port": pg.port,
                 "login": pg.username, "password": PG_PASSWORD,
                 "schema": pg.path.lstrip("/")}  # fmt: skip
    aws = {"conn_type": "aws", "login": ACCESS_KEY_ID, "password": SECRET_ACCESS_KEY,
           "extra": {"region_name": REGION, "endpoint_url": s3_endpoint}}  # fmt: skip
    env = airflow_env | {
        "HEALTHANALYTICS_COMMAND": str(command),
        "HEALTHANALYTICS_FACT_URI": s3_bucket.uri("cms/partd/{year}/"),
        "HEALTHANALYTICS_CITY_URI": s3_bucket.uri("reference/us_cities.parquet"),
        "HEALTHANALYTICS_OUTPUT_URI": s3_bucket.uri("out"),
        "AIRFLOW_CONN_HEALTHANALYTICS_WAREHOUSE": json.dumps(warehouse),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
    }
    migrated = airflow(airflow_python, env, "db", "migrate", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    runs = []
    for _ in range(2):  # a second run of the date replaces its delivery: no clean-up in between
        done = airflow(airflow_python, env, "dags", "test", DAG_ID, "2021-01-01", cwd=tmp_path)
        printed = done.stdout + done.stderr
        assert done.returncode == 0, printed[-20000:]
        assert "state=success" in printed, printed[-20000:]
        assert PG_PASSWORD not in printed and SECRET_ACCESS_KEY not in printed
        # read through the pointer, every listed file checked (this process' AWS settings)
        runs.append(read_delivery(s3_bucket.uri("out"), "2021-01-01", checksums=True).run_id)
    assert runs[0] != runs[1]

    calls = [json.loads(line) for line in given.read_text().splitlines()]
    assert [call["argv"] for call in calls] == 2 * [[
        "run", "--fact", s3_bucket.uri("cms/partd/2021/"),
        "--city", s3_bucket.uri("reference/us_cities.parquet"), "--output", s3_bucket.uri("out"),
        "--db", f"postgresql://{pg.username}@{pg.hostname}:{pg.port}{pg.path}",
        "--run-date", "2021-01-01",
    ]]  # fmt: skip
    for call in calls:  # the secrets by the environment only
        assert call["env"] == {
            "PGPASSWORD": PG_PASSWORD, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY, "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": s3_endpoint,
        }  # fmt: skip

    tables = read_tables(pg_url)
    date = dt.date(2021, 1, 1)
    recorded = [
        (r["run_id"], r["status"], r["run_date"]) for r in tables["pipeline_runs"].to_pylist()
    ]
    assert recorded == [(run, "success", date) for run in runs]
    assert_reports_match(tables, SAMPLE, date)
    # every other table as a local run of the same inputs and date leaves it, once (replaced)
    local = run_case(SAMPLE, output=tmp_path / "local", db=str(tmp_path / "local.duckdb"),
                     run_date=date)  # fmt: skip
    assert local.error is None
    for name in TABLES:
        if name != "pipeline_runs":
            assert_same_table(tables[name], local.tables[name], name)
