"""The command's exit codes (errors.ExitCode): one representative cause of each, run as a user
or a scheduler runs the command (a process of its own), and the README's table kept equal to
the enum. Interrupted runs (130) are run for real in tests/integrity/test_deliveries.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthanalytics.errors import ExitCode, exit_code
from healthanalytics.io.files import StoreUnavailableError
from healthanalytics.io.locks import lock_output_folder
from healthanalytics.io.publish import StalePublishError
from healthanalytics.io.warehouse.base import WarehouseError
from tests.conftest import CITIES, SAMPLE, error_line, run_cli
from tests.s3_server import fake_aws_environment, free_port

README = Path(__file__).resolve().parents[1] / "README.md"


def run_in(tmp_path: Path, *args: str, env: dict[str, str | None] | None = None):
    """`healthanalytics run` into this test's folder (output, DuckDB file, log), plus `args`."""
    defaults = ["--output", str(tmp_path / "out"), "--db", str(tmp_path / "w.duckdb"),
                "--log-file", str(tmp_path / "run.log"), "--city", str(CITIES)]  # fmt: skip
    return run_cli(*defaults, *args, cwd=tmp_path, env=env)


def test_readme_table_is_the_enum():
    text = README.read_text()
    section = text[text.index("## Exit codes") :].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\d+)` \| `(\w+)` \| (yes|no) \|", section, re.MULTILINE)
    assert [(int(code), name, retry == "yes") for code, name, retry in rows] == [
        (code.value, code.name, code.retryable) for code in ExitCode
    ]


def test_success_is_0(tmp_path):
    done = run_in(tmp_path, "--fact", str(SAMPLE))
    assert done.returncode == ExitCode.OK == 0, done.stderr


def test_an_input_that_cannot_be_used_is_1(tmp_path):
    done = run_in(tmp_path, "--fact", str(tmp_path / "nope.csv"))
    assert done.returncode == ExitCode.FAILED == 1
    assert error_line(done).startswith("error: fact file not found")


def test_a_wrong_command_line_is_2(tmp_path):
    done = run_in(tmp_path, "--fact", str(SAMPLE), "--run-date", "2026-13-45")
    assert done.returncode == ExitCode.USAGE == 2


def test_a_delivery_refused_by_its_guard_is_3(tmp_path):
    # one row, quarantined (an NPI of one digit): the run would keep no rows, which the
    # shrink guard refuses even as the date's first delivery
    header, row = SAMPLE.read_text().splitlines()[:2]
    fact = tmp_path / "no_kept_rows.csv"
    fact.write_text(f"{header}\n1{row[10:]}\n")
    done = run_in(tmp_path, "--fact", str(fact))
    assert done.returncode == ExitCode.REFUSED == 3, done.stderr
    assert "--allow-smaller-delivery" in error_line(done)


def test_an_output_folder_in_use_is_4(tmp_path):
    with lock_output_folder(str(tmp_path / "out"), {"pid": 1, "host": "elsewhere"}, 0):
        done = run_in(tmp_path, "--fact", str(SAMPLE))
    assert done.returncode == ExitCode.BUSY == 4
    assert "using the output folder" in error_line(done)


def test_an_unreachable_s3_endpoint_is_5(tmp_path):
    # nothing listens on the port: every attempt is refused
    aws = fake_aws_environment(f"http://127.0.0.1:{free_port()}", tmp_path)
    env = {key: value for key, value in aws.items() if value is not None}
    env["AWS_MAX_ATTEMPTS"] = "2"
    done = run_in(tmp_path, "--fact", "s3://lake/fact.csv", env=env)
    assert done.returncode == ExitCode.UNAVAILABLE == 5, done.stderr
    assert "the S3 request failed 2 times" in error_line(done)


def test_an_unreachable_database_is_5(tmp_path):
    done = run_cli("--fact", str(SAMPLE), "--output", str(tmp_path / "out"),
                   "--db", f"postgresql://analyst@127.0.0.1:{free_port()}/launch",
                   "--log-file", str(tmp_path / "run.log"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == ExitCode.UNAVAILABLE == 5
    assert error_line(done).startswith("error: cannot connect to PostgreSQL")


def test_an_interrupted_run_is_130(tmp_path, monkeypatch):
    import healthanalytics.pipeline

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt("stopped by signal SIGTERM")

    monkeypatch.setattr(healthanalytics.pipeline, "run_pipeline", stopped)
    from healthanalytics.cli import app

    done = CliRunner().invoke(app, ["run", "--fact", str(SAMPLE), "--output", str(tmp_path / "o"),
                                    "--db", str(tmp_path / "w.duckdb"),
                                    "--log-file", str(tmp_path / "run.log")])  # fmt: skip
    assert done.exit_code == ExitCode.INTERRUPTED == 130


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (StalePublishError("another run published the date"), ExitCode.BUSY),
        (WarehouseError("rows for loading lack columns: x"), ExitCode.FAILED),
        (ValueError("anything else"), ExitCode.FAILED),
    ],
)
def test_exit_code_of_an_error(err, expected):
    assert exit_code(err) == expected


def test_a_cause_decides_when_the_error_itself_is_not_known():
    try:
        try:
            raise StoreUnavailableError("s3://b: the S3 request failed 5 times")
        except StoreUnavailableError as cause:
            raise RuntimeError("--output s3://b/p cannot be written") from cause
    except RuntimeError as err:
        assert exit_code(err) == ExitCode.UNAVAILABLE
    # only an explicit cause counts, not an error met while handling another
    try:
        try:
            raise StoreUnavailableError("s3://b: the S3 request failed 5 times")
        except StoreUnavailableError:
            raise RuntimeError("a bug in the handler")  # noqa: B904
    except RuntimeError as err:
        assert exit_code(err) == ExitCode.FAILED
