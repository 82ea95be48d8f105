"""An example Apache Airflow DAG (Airflow 3.2 or later): one HealthAnalytics delivery per CMS
data year, read from S3, published to S3 and loaded into PostgreSQL by `healthanalytics run`.

- One run per data date: the CMS Part D prescriber-by-drug file is published once per data
  year, so the DAG is `@yearly` and the run of data year Y has the logical date Y-01-01, which
  is the delivery date (`--run-date {{ ds }}`). Older years are loaded with a backfill.
- Sensor-free: the command is idempotent per delivery date (a re-run replaces the date's rows,
  report files and S3 pointer whole, and two runs of one date are kept apart by its locks), so
  no sensor, clean-up or "already done?" task is needed; clearing a task runs it again.
- Retries only when they can help: the command's exit code says (README "Exit codes"). 4 (another
  run holds the date or published it meanwhile), 5 (S3 or PostgreSQL unreachable past the
  command's own request retries) and 130 (stopped, e.g. by this task's timeout) are retried;
  1, 2 and 3 (a bad input, a wrong command line, a delivery refused by its guards) fail the task
  at once, since running it unchanged would fail the same way.
- No credential in this file, the command line or the task log: PostgreSQL's password reaches
  the command as PGPASSWORD (libpq reads it), AWS keys as the standard AWS_* variables, both
  from Airflow connections; without an AWS connection, the worker's own chain (instance or
  container role, AWS_PROFILE) is used.

Settings (environment variables of the Airflow worker, all optional):
HEALTHANALYTICS_COMMAND (the `healthanalytics` executable, e.g. in a virtual environment of its
own), HEALTHANALYTICS_FACT_URI (with `{year}` for the data year), HEALTHANALYTICS_CITY_URI,
HEALTHANALYTICS_OUTPUT_URI, HEALTHANALYTICS_WAREHOUSE_CONN (a Postgres connection id) and
HEALTHANALYTICS_AWS_CONN (an AWS connection id; empty: the worker's own credentials).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from typing import Any
from urllib.parse import quote

from airflow.sdk import DAG, Connection, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

COMMAND = os.environ.get("HEALTHANALYTICS_COMMAND", "healthanalytics")
FACT_URI = os.environ.get("HEALTHANALYTICS_FACT_URI", "s3://lake/cms/partd/{year}/")
CITY_URI = os.environ.get("HEALTHANALYTICS_CITY_URI", "s3://lake/reference/us_cities.parquet")
OUTPUT_URI = os.environ.get("HEALTHANALYTICS_OUTPUT_URI", "s3://lake/healthanalytics")
WAREHOUSE_CONN = os.environ.get("HEALTHANALYTICS_WAREHOUSE_CONN", "healthanalytics_warehouse")
AWS_CONN = os.environ.get("HEALTHANALYTICS_AWS_CONN", "aws_default")

# the exit codes worth a retry: README "Exit codes" (healthanalytics.errors.ExitCode), kept here
# so the DAG needs no HealthAnalytics import (the command may live in its own environment)
RETRYABLE_EXIT_CODES = frozenset({4, 5, 130})


def delivery_command(data_date: str, warehouse: str) -> list[str]:
    """The command line of the delivery of `data_date` (YYYY-MM-DD): inputs of its data year on
    S3, outputs published to S3, tables loaded into `warehouse` (a URL without password)."""
    return [
        COMMAND, "run",
        "--fact", FACT_URI.format(year=data_date[:4]),
        "--city", CITY_URI,
        "--output", OUTPUT_URI,
        "--db", warehouse,
        "--run-date", data_date,
    ]  # fmt: skip


def warehouse_target(conn: Any) -> tuple[str, dict[str, str]]:
    """A Postgres connection as the URL given to --db (no password: a process listing shows
    command lines) and the environment carrying the password (PGPASSWORD)."""
    user = quote(conn.login or "", safe="") + "@" if conn.login else ""
    port = f":{conn.port}" if conn.port else ""
    url = f"postgresql://{user}{conn.host}{port}/{quote(conn.schema or '', safe='')}"
    return url, ({"PGPASSWORD": conn.password} if conn.password else {})


def aws_environment(conn: Any | None) -> dict[str, str]:
    """An AWS connection (login: access key id, password: secret key, extra: region_name,
    endpoint_url, aws_session_token) as the standard AWS_* variables; none without one."""
    if conn is None:
        return {}
    extra = conn.extra_dejson
    found = {
        "AWS_ACCESS_KEY_ID": conn.login,
        "AWS_SECRET_ACCESS_KEY": conn.password,
        "AWS_SESSION_TOKEN": extra.get("aws_session_token"),
        "AWS_REGION": extra.get("region_name"),
        "AWS_ENDPOINT_URL": extra.get("endpoint_url"),
    }
    return {name: str(value) for name, value in found.items() if value}


def check_exit_code(code: int) -> None:
    """Nothing for 0; AirflowException (retried while retries are left) for a retryable exit
    code; AirflowFailException (failed at once) for any other."""
    if code == 0:
        return
    message = f"healthanalytics run exited with {code} (README: Exit codes)"
    if code in RETRYABLE_EXIT_CODES:
        raise AirflowException(message + "; retrying")
    raise AirflowFailException(message + "; not retried: fix the cause, then clear the task")


def run_delivery(data_date: str) -> None:
    """Run the command for `data_date` with the credentials of the connections in its
    environment; its output goes to the task log. Stopping the task (a timeout, a mark as
    failed) stops the command with SIGTERM, which ends it cleanly (exit 130)."""
    warehouse, env = warehouse_target(Connection.get(WAREHOUSE_CONN))
    env |= aws_environment(Connection.get(AWS_CONN) if AWS_CONN else None)
    with subprocess.Popen(delivery_command(data_date, warehouse), env=os.environ | env) as proc:
        try:
            code = proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait(timeout=120)
            raise
    check_exit_code(code)


with DAG(
    dag_id="healthanalytics_launch_delivery",
    description="One HealthAnalytics delivery per CMS Part D data year, S3 to S3 and PostgreSQL",
    schedule="@yearly",
    # the first Part D data year; timezone.utc, not UTC: Airflow workers may run Python 3.10
    start_date=dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc),  # noqa: UP017
    catchup=False,  # older years: `airflow backfill create` (README)
    max_active_runs=1,
    tags=["healthanalytics"],
):

    @task(
        retries=3,
        retry_delay=dt.timedelta(minutes=5),
        retry_exponential_backoff=True,
        execution_timeout=dt.timedelta(hours=6),
    )
    def deliver(ds: str | None = None) -> None:
        """The delivery of the run's data date (`ds`, the logical date: YYYY-01-01)."""
        if ds is None:
            raise AirflowFailException("no logical date: trigger the run with one (the data date)")
        run_delivery(ds)

    deliver()
