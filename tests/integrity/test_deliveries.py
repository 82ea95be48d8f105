"""Deliveries and runs: a run that would empty or shrink a delivery is refused, two runs at once
never double rows, and a killed run is recorded and its leftovers removed by the next.

The in-process cases use the corpus harness. The process cases run the real CLI as child
processes: a child given a stage stops itself (SIGSTOP) right after its log file received
`stage NAME: start`, so the test holds it at exactly that stage, alive with its locks, and then
kills it (SIGKILL), lets it go on (SIGCONT), or runs a second CLI process beside it.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from healthanalytics.errors import ExitCode
from healthanalytics.io.report_files import read_report_files
from tests.integrity.conftest import CITIES, RUN_DATE, SAMPLE, read_tables, run_case

DELIVERY = ("city_report", "prescriber_report", "quarantine")
HOST = socket.gethostname()
WAIT = "wait for it to finish, or pass --lock-timeout SECONDS to let this run wait for it"
ABANDONED = "abandoned: the run stopped without recording its outcome (killed, or its machine "
OUTPUT_AFTER_A_RUN = [".healthanalytics.lock", "charts", "city_report", "launch_brief.html",
                      "prescriber_report", "quality_checks.json"]  # fmt: skip


def write_fact(path: Path, lines: int | None = None, npi: str | None = None) -> Path:
    """SAMPLE's header and its first `lines` lines (all when None), each NPI set to `npi` when
    given."""
    with open(SAMPLE, newline="") as src:
        rows = list(csv.reader(src))
    body = rows[1 : None if lines is None else lines + 1]
    if npi is not None:
        body = [[npi, *row[1:]] for row in body]
    with open(path, "w", newline="") as out:
        csv.writer(out).writerows([rows[0], *body])
    return path


def output_files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` but the lock file (rewritten by each run), with its bytes; the
    launch brief's page with its run id blanked (it names the run that wrote it)."""
    files = {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != ".healthanalytics.lock"
    }
    if "launch_brief.html" in files:
        page = files["launch_brief.html"]
        files["launch_brief.html"] = re.sub(rb"run [0-9a-f]{32}", b"run -", page)
    return files


def report_rows(folder: Path) -> list[dict]:
    return sorted(read_report_files(folder).to_pylist(), key=repr)


def rows(tables, name: str, date: dt.date | None = RUN_DATE) -> list[dict]:
    found = tables[name].to_pylist()
    if date is not None and name != "pipeline_runs":
        found = [row for row in found if row["delivery_date"] == date]
    return sorted(found, key=repr)


# ---------------------------------------------------------------------------------------------
# A delivery that would replace a good one with (almost) nothing


def test_input_keeping_no_rows_is_refused_and_the_delivery_is_unchanged(
    run, engine_name, warehouse_url, tmp_path
):
    first = run(SAMPLE, engine="duckdb", db=warehouse_url)  # any engine makes the same delivery
    assert first.error is None
    before = output_files(tmp_path / "out")
    fact = write_fact(tmp_path / "no_valid_npi.csv", npi="N/A")  # every line invalid_npi
    refused = run(fact, engine=engine_name, db=warehouse_url)
    assert refused.error == (
        f"{fact}: keeps no rows (105 read, 105 quarantined: 105 invalid_npi), so the delivery of "
        "2026-01-15 "
        "would be empty; nothing was changed: check the input, or pass "
        "--allow-smaller-delivery to deliver it anyway"
    )
    for name in DELIVERY:
        assert rows(refused.tables, name) == rows(first.tables, name)
    assert output_files(tmp_path / "out") == before  # quality_checks.json included
    runs = rows(refused.tables, "pipeline_runs")
    assert sorted((run["status"], run["rows_kept"]) for run in runs) == [
        ("failed", 0), ("success", 102)
    ]  # fmt: skip


def test_a_first_delivery_keeping_no_rows_is_refused(run, warehouse_url, tmp_path):
    # no earlier delivery to compare with: an empty delivery is still refused
    fact = write_fact(tmp_path / "no_valid_npi.csv", lines=3, npi="")
    refused = run(fact, db=warehouse_url)
    assert refused.error == (
        f"{fact}: keeps no rows (3 read, 3 quarantined: 3 invalid_npi), so the delivery of "
        "2026-01-15 would "
        "be empty; nothing was changed: check the input, or pass --allow-smaller-delivery to "
        "deliver it anyway"
    )
    assert all(refused.tables[name].num_rows == 0 for name in DELIVERY)
    assert output_files(tmp_path / "out") == {}
    allowed = run(fact, db=warehouse_url, allow_smaller_delivery=True)
    assert allowed.error is None
    assert [r["reason"] for r in rows(allowed.tables, "quarantine")] == ["invalid_npi"] * 3
    assert rows(allowed.tables, "city_report") == rows(allowed.tables, "prescriber_report") == []


def test_far_smaller_delivery_is_refused_unless_allowed(run, engine_name, warehouse_url, tmp_path):
    first = run(SAMPLE, engine="duckdb", db=warehouse_url)  # any engine makes the same delivery
    before = output_files(tmp_path / "out")
    fact = write_fact(tmp_path / "first_42_lines.csv", lines=42)  # 40 kept, under 0.5 x 102
    refused = run(fact, engine=engine_name, db=warehouse_url)
    assert refused.error == (
        f"{fact}: keeps 40 rows, fewer than min_delivery_share 0.5 of the 102 kept by the "
        f"delivery of 2026-01-15 it would replace (run {first.record['run_id']}); nothing was "
        "changed: check the input, or pass --allow-smaller-delivery to replace it anyway"
    )
    for name in DELIVERY:
        assert rows(refused.tables, name) == rows(first.tables, name)
    assert output_files(tmp_path / "out") == before

    # the same input on a date of its own replaces nothing: it is delivered
    other_day = run(fact, engine=engine_name, db=warehouse_url, run_date=dt.date(2026, 1, 16))
    assert other_day.error is None

    # allowed, it replaces the date's delivery exactly as a first delivery of it would
    alone = run(fact, engine=engine_name, db=str(tmp_path / "alone.duckdb"),
                output=tmp_path / "alone")  # fmt: skip
    allowed = run(fact, engine=engine_name, db=warehouse_url, allow_smaller_delivery=True)
    assert allowed.error is None
    for name in DELIVERY:
        assert rows(allowed.tables, name) == rows(alone.tables, name)
    for name in ("city_report", "prescriber_report"):  # Spark's part names differ per run
        assert report_rows(tmp_path / "out" / name) == report_rows(tmp_path / "alone" / name)


def test_min_delivery_share_is_a_setting(run, warehouse_url, tmp_path):
    run(SAMPLE, db=warehouse_url)
    fact = write_fact(tmp_path / "first_42_lines.csv", lines=42)  # 40 kept
    assert run(fact, db=warehouse_url, min_delivery_share=0.35).error is None  # 40 ≥ 0.35 x 102
    # compared with the delivery it replaces, now of 40 rows: 18 < 0.5 x 40
    smaller = write_fact(tmp_path / "first_19_lines.csv", lines=19)
    assert "keeps 18 rows, fewer than min_delivery_share 0.5 of the 40 kept" in (
        run(smaller, db=warehouse_url).error or ""
    )


# ---------------------------------------------------------------------------------------------
# Real processes

# The CLI, stopping itself right after its log file received the line in HA_TEST_STOP_AT.
_CHILD = """
import logging, os, signal, sys
stop_at = os.environ.get("HA_TEST_STOP_AT")
emit = logging.FileHandler.emit
def emit_then_stop(self, record):
    emit(self, record)
    if stop_at and record.getMessage() == stop_at:
        os.kill(os.getpid(), signal.SIGSTOP)
logging.FileHandler.emit = emit_then_stop
from healthanalytics.cli import app
sys.argv[0] = "healthanalytics"
app()
"""
TIMEOUT = 120


class Cli:
    """One `healthanalytics run` child process, its log and its stderr."""

    def __init__(
        self, folder: Path, name: str, args: list[str], stop_at: str | None, stop_after: str | None
    ) -> None:
        self.log = folder / f"{name}.log"
        self.stderr_path = folder / f"{name}.err"
        env = {**os.environ, "COLUMNS": "200"}
        if stop_at:
            env["HA_TEST_STOP_AT"] = f"stage {stop_at}: start"
        if stop_after:
            env["HA_TEST_STOP_AT"] = stop_after
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, "run", *args, "--log-file", str(self.log)],
                cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        self.pid = self.proc.pid

    def wait_stopped_at(self, stage: str, line: str | None = None) -> None:
        """Until the log file shows `stage STAGE: start` (or `line`) and the process is stopped
        there."""
        deadline = time.monotonic() + TIMEOUT
        line = line or f"stage {stage}: start"
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"ended before {stage}: {self.stderr_path.read_text()}"
            logged = self.log.exists() and line in self.log.read_text()
            if logged and Path(f"/proc/{self.pid}/stat").read_text().split(") ")[1][0] == "T":
                return
            time.sleep(0.02)
        raise AssertionError(f"run never reached stage {stage}")

    def wait_logged(self, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not (self.log.exists() and text in self.log.read_text()):
            assert self.proc.poll() is None, self.stderr_path.read_text()
            assert time.monotonic() < deadline, f"never logged {text!r}"
            time.sleep(0.02)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self, signum: int = signal.SIGKILL) -> None:
        os.kill(self.pid, signum)
        if signum != signal.SIGKILL:
            self.resume()  # a stopped process takes other signals once it runs again
        self.proc.wait(TIMEOUT)

    def finish(self) -> int:
        return self.proc.wait(TIMEOUT)

    def error_line(self) -> str:
        errors = [line for line in self.stderr_path.read_text().splitlines() if "error:" in line]
        assert len(errors) == 1, self.stderr_path.read_text()
        assert "Traceback" not in self.stderr_path.read_text()
        return errors[0]


@pytest.fixture
def cli(tmp_path) -> Iterator[Callable[..., Cli]]:
    """`cli(name, out=..., db=..., date=..., stop_at=..., *extra)`: a child CLI run of SAMPLE
    with a scratch folder of this test; every child is killed and reaped at the end."""
    started: list[Cli] = []
    (tmp_path / "scratch").mkdir()

    def start(name: str, *extra: str, out: str = "out", db: str, date: str = "2026-01-15",
              stop_at: str | None = None, stop_after: str | None = None) -> Cli:  # fmt: skip
        args = ["--fact", str(SAMPLE), "--city", str(CITIES), "--output", str(tmp_path / out),
                "--db", db, "--run-date", date, "--threads", "1",
                "--temp-directory", str(tmp_path / "scratch"), *extra]  # fmt: skip
        child = Cli(tmp_path, name, args, stop_at, stop_after)
        started.append(child)
        return child

    yield start
    for child in started:
        if child.proc.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.proc.wait(TIMEOUT)


@pytest.fixture
def db(warehouse_url) -> str:
    """The warehouse the child runs share: a DuckDB file or a new PostgreSQL database."""
    return warehouse_url


def single_run(tmp_path: Path, name: str = "single") -> dict:
    """What one run of SAMPLE alone delivers, in a warehouse and output folder of its own."""
    outcome = run_case(SAMPLE, output=tmp_path / name, db=str(tmp_path / f"{name}.duckdb"))
    assert outcome.error is None
    return outcome.tables


def assert_delivered_once(db: str, tmp_path: Path, out: str = "out") -> dict:
    """The warehouse and output folder hold exactly one run's delivery of SAMPLE."""
    tables, alone = read_tables(db), single_run(tmp_path)
    for name in DELIVERY:
        assert rows(tables, name) == rows(alone, name), name
    assert output_files(tmp_path / out) == output_files(tmp_path / "single")
    assert sorted(p.name for p in (tmp_path / out).iterdir()) == OUTPUT_AFTER_A_RUN
    return tables


def runs_by_pid(tables) -> list[tuple]:
    return sorted((run["pid"], run["status"]) for run in tables["pipeline_runs"].to_pylist())


def test_second_run_sharing_the_output_folder_is_refused(cli, db, tmp_path):
    first = cli("first", db=db, stop_at="ingest")
    first.wait_stopped_at("ingest")  # it holds the output folder, the warehouse and the date
    second = cli("second", db=db)
    assert second.finish() == ExitCode.BUSY
    assert second.error_line() == (
        f"error: another run (pid {first.pid} on host {HOST}) is using the output folder "
        f"{tmp_path / 'out'}: {WAIT}"
    )
    waited = cli("waited", "--lock-timeout", "0.5", db=db)
    assert waited.finish() == ExitCode.BUSY
    assert waited.error_line() == (
        f"error: another run (pid {first.pid} on host {HOST}) is using the output folder "
        f"{tmp_path / 'out'} after waiting 0.5 s: {WAIT}"
    )
    first.resume()
    assert first.finish() == 0
    tables = assert_delivered_once(db, tmp_path)
    assert runs_by_pid(tables) == [(first.pid, "success")]  # refused before connecting


def test_second_run_of_the_same_date_into_the_same_warehouse_is_refused(cli, db, tmp_path):
    first = cli("first", db=db, stop_at="ingest")
    first.wait_stopped_at("ingest")
    second = cli("second", out="out2", db=db)
    assert second.finish() == ExitCode.BUSY
    if db.startswith("postgresql://"):
        holder = f"another run (pid {first.pid} on host {HOST}) is delivering 2026-01-15 into {db}"
    else:
        holder = f"another process (pid {first.pid}) is using the DuckDB database {db}"
    assert second.error_line() == f"error: {holder}: {WAIT}"
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == [".healthanalytics.lock"]
    first.resume()
    assert first.finish() == 0
    tables = assert_delivered_once(db, tmp_path)
    # a PostgreSQL run refused by the date's lock had connected: it is recorded as failed
    failed = [(second.pid, "failed")] if db.startswith("postgresql://") else []
    assert runs_by_pid(tables) == sorted([(first.pid, "success"), *failed])


@pytest.mark.parametrize("shared", ["output folder", "warehouse"])
def test_a_waiting_run_goes_after_the_first_and_never_doubles(cli, db, tmp_path, shared):
    first = cli("first", db=db, stop_at="ingest")
    first.wait_stopped_at("ingest")
    out = "out" if shared == "output folder" else "out2"
    second = cli("second", "--lock-timeout", str(TIMEOUT), out=out, db=db)
    second.wait_logged("stage connect: start")
    time.sleep(1)  # it waits for the lock meanwhile
    assert "stage connect: end" not in second.log.read_text()
    first.resume()
    assert first.finish() == 0
    assert second.finish() == 0, second.stderr_path.read_text()
    tables = assert_delivered_once(db, tmp_path, out)
    assert runs_by_pid(tables) == sorted([(first.pid, "success"), (second.pid, "success")])


@pytest.mark.parametrize("stage", ["clean", "persist"])
def test_killed_run_is_marked_abandoned_and_its_leftovers_removed(cli, db, tmp_path, stage):
    earlier = cli("earlier", db=db)
    assert earlier.finish() == 0
    killed = cli("killed", db=db, stop_at=stage)
    killed.wait_stopped_at(stage)
    killed.kill()

    scratch = list((tmp_path / "scratch").iterdir())
    assert [p.name.startswith("healthanalytics-") for p in scratch] == [True]
    staging = sorted(p.name.split(".tmp-")[0] for p in (tmp_path / "out").glob(".*.tmp-*"))
    # persist starts once both report folders are staged
    assert staging == ([".city_report", ".prescriber_report"] if stage == "persist" else [])
    assert runs_by_pid(read_tables(db)) == sorted(
        [(earlier.pid, "success"), (killed.pid, "running")]
    )

    # PostgreSQL ends a killed client's session (and its lock) on its own: allow it a moment
    after = cli("after", "--lock-timeout", "30", db=db)
    assert after.finish() == 0, after.stderr_path.read_text()
    tables = assert_delivered_once(db, tmp_path)
    assert runs_by_pid(tables) == sorted(
        [(earlier.pid, "success"), (killed.pid, "abandoned"), (after.pid, "success")]
    )
    abandoned = next(r for r in tables["pipeline_runs"].to_pylist() if r["pid"] == killed.pid)
    after_id = next(r["run_id"] for r in tables["pipeline_runs"].to_pylist()
                    if r["pid"] == after.pid)  # fmt: skip
    assert abandoned["error"].startswith(f"{ABANDONED}stopped); found by run {after_id} at ")
    assert abandoned["finished_at"] is None
    assert list((tmp_path / "scratch").iterdir()) == []
    log = after.log.read_text()
    assert f"pid {killed.pid} on host {HOST}" in log and "marked abandoned" in log


def test_run_killed_after_its_commit_is_recorded_as_the_delivery_it_made(cli, db, tmp_path):
    # the success row commits with the rows: a kill between the commit and the end of the run
    # leaves the run recorded as the one that delivered, not abandoned (the shrink guard of the
    # next run compares with what is really delivered)
    killed = cli("killed", db=db, stop_after="delivery 2026-01-15 committed")
    killed.wait_stopped_at("persist", "delivery 2026-01-15 committed")
    killed.kill()
    after = cli("after", "--lock-timeout", "30", db=db)
    assert after.finish() == 0, after.stderr_path.read_text()
    assert runs_by_pid(read_tables(db)) == sorted([(killed.pid, "success"), (after.pid, "success")])


def test_terminated_run_says_so_in_one_line_and_is_recorded_failed(cli, db, tmp_path):
    stopped = cli("stopped", db=db, stop_at="clean")
    stopped.wait_stopped_at("clean")
    stopped.kill(signal.SIGTERM)
    assert stopped.proc.returncode == 130
    assert stopped.error_line() == (
        "error: the run was stopped (stopped by signal SIGTERM): its pipeline_runs row says "
        "whether it had delivered; if not, the date's earlier delivery is unchanged"
    )
    assert runs_by_pid(read_tables(db)) == [(stopped.pid, "failed")]
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_live_runs_leftovers_are_left_alone(cli, db, tmp_path):
    live = cli("live", db=db, stop_at="persist")
    live.wait_stopped_at("persist")  # alive, with its row, scratch folder and staged reports
    scratch = sorted((tmp_path / "scratch").iterdir())
    staged = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(scratch) == 1 and len(staged) == 4  # lock file, quality checks, two staged

    # another date, another output folder, the same scratch folder (and PostgreSQL database;
    # a DuckDB file is the live run's alone)
    on_pg = db.startswith("postgresql://")
    other_db = db if on_pg else str(tmp_path / "other.duckdb")
    beside = cli("beside", out="out2", db=other_db, date="2026-01-16")
    assert beside.finish() == 0, beside.stderr_path.read_text()
    # the same output folder: refused before touching anything
    same_folder = cli("same_folder", db=str(tmp_path / "third.duckdb"), date="2026-01-17")
    assert same_folder.finish() == ExitCode.BUSY
    assert sorted((tmp_path / "scratch").iterdir()) == scratch
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == staged
    if on_pg:
        assert runs_by_pid(read_tables(db)) == sorted(
            [(live.pid, "running"), (beside.pid, "success")]
        )

    live.resume()
    assert live.finish() == 0
    tables = assert_delivered_once(db, tmp_path)
    assert (live.pid, "success") in runs_by_pid(tables)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_refusal_of_a_smaller_delivery_exits_non_zero_and_can_be_allowed(cli, tmp_path):
    db = str(tmp_path / "w.duckdb")
    assert cli("first", db=db).finish() == 0
    before = output_files(tmp_path / "out")
    fact = write_fact(tmp_path / "first_42_lines.csv", lines=42)  # 40 kept
    refused = cli("refused", "--fact", str(fact), db=db)
    assert refused.finish() == ExitCode.REFUSED
    assert refused.error_line().startswith(f"error: {fact}: keeps 40 rows, fewer than ")
    assert output_files(tmp_path / "out") == before
    allowed = cli("allowed", "--fact", str(fact), "--allow-smaller-delivery", db=db)
    assert allowed.finish() == 0, allowed.stderr_path.read_text()
    assert sum(1 for r in read_tables(db)["pipeline_runs"].to_pylist() if r["rows_kept"] == 40) == 2
