"""The table contracts: what a real run persists matches them, and docs/TABLES.md is theirs."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa
import pytest

from healthanalytics.config import Settings
from healthanalytics.contracts import TABLES, Column, Range, RunParameters, TableContract
from healthanalytics.contracts.dictionary import REGENERATE, markdown
from healthanalytics.io.inputs import bundled
from healthanalytics.io.report_files import read_report_files
from healthanalytics.pipeline import run_pipeline
from healthanalytics.quality import run_quality_checks

ROOT = Path(__file__).resolve().parents[1]
TABLES_MD = ROOT / "docs" / "TABLES.md"
SAMPLE = Path(bundled("prescriber_fact_sample.csv"))
RUN_DATE = dt.date(2026, 1, 15)
# how DuckDB's information_schema names the types of the contracts (written out here, not
# derived from the warehouse code, so that a wrong mapping there fails this test)
DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
}


def healthanalytics(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed command, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "healthanalytics", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_readme_outputs_list_every_table_of_the_contracts():
    # the Outputs section's warehouse row names the tables, in the contracts' order
    readme = (ROOT / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if line.startswith("| tables `")]
    named = re.findall(r"`([a-z_]+)`", row.split("|")[1])
    assert named == list(TABLES)
    assert f"(the {len(TABLES)} of `healthanalytics tables`)" in row


def test_docs_tables_md_is_generated_from_the_contracts():
    assert TABLES_MD.read_text() == markdown(TABLES.values()), (
        f"docs/TABLES.md differs from the contracts: regenerate it with `{REGENERATE}`"
    )


def test_the_tables_command_prints_the_dictionary(tmp_path):
    as_markdown = healthanalytics("tables", "--markdown", cwd=tmp_path)
    assert as_markdown.returncode == 0, as_markdown.stderr
    assert as_markdown.stdout == markdown(TABLES.values())
    shown = healthanalytics("tables", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    # every table, column (with its type) and test is on screen
    for contract in TABLES.values():
        assert contract.name in shown.stdout
        for column in contract.columns:
            assert column.name in shown.stdout and str(column.type) in shown.stdout
        for test in contract.tests():
            assert test.name in shown.stdout


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    """The bundled 105-line excerpt run once into a DuckDB file; returns the output folder."""
    out = tmp_path_factory.mktemp("run")
    settings = Settings(fact=str(SAMPLE), output=str(out / "out"), run_date=RUN_DATE,
                        db_url=str(out / "warehouse.duckdb"), threads=1)  # fmt: skip
    run_pipeline(settings)
    return out


def test_the_persisted_tables_are_those_the_contracts_declare(sample_run, duckdb_engine):
    with duckdb.connect(str(sample_run / "warehouse.duckdb"), read_only=True) as con:
        found = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
        tables = {name: con.sql(f"SELECT * FROM {name}").to_arrow_table() for name in TABLES}
    persisted: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in found:
        persisted.setdefault(table, []).append((column, kind))
    assert persisted == {
        name: [(column.name, DUCKDB_TYPES[column.type]) for column in contract.columns]
        for name, contract in TABLES.items()
    }
    # every table holds rows (the sample has quarantined lines and unmatched places), so the
    # checks below see data; but no specialty of its 105 lines has the 30 peers peer_outliers
    # needs (its rows are checked on the 100k run: tests/analysis/test_analysis_run.py), and
    # the excerpt's 96 prescribers are too few to validate the lookalike model: its skip row
    # is in model_evaluation, and no prescriber is scored
    empty = {"peer_outliers": False, "target_prescribers": False, "model_importance": False}
    assert {name: table.num_rows > 0 for name, table in tables.items()} == {
        **dict.fromkeys(TABLES, True),
        **empty,
    }
    assert set(tables["model_evaluation"].column("status").to_pylist()) == {"skipped"}
    # the key unique (within the one delivery) and every declared test passing, pipeline_runs
    # included, on what was persisted
    checks = run_quality_checks(
        {name: ibis.memtable(table) for name, table in tables.items()},
        RunParameters(top_n=5),
        duckdb_engine,
    )
    assert [check.name for check in checks if not check.passed] == []
    assert {check.name for check in checks} >= {
        f"{name}_unique_{contract.key[0] if len(contract.key) == 1 else contract.grain}"
        for name, contract in TABLES.items()
        if contract.key
    }


def test_report_files_hold_the_contracts_columns_in_order(sample_run):
    for name in ("city_report", "prescriber_report"):
        files = read_report_files(sample_run / "out" / name)
        assert files.column_names == TABLES[name].names


def test_a_contract_refuses_a_number_without_unit_and_a_key_it_lacks():
    # a unit is what tells a reader USD from claims
    with pytest.raises(ValueError, match="column cost: a number needs its unit"):
        Column("cost", pa.float64(), "drug cost")
    # a key column the table does not have
    with pytest.raises(ValueError, match="contract t: a column twice, or a key column missing"):
        TableContract("t", "a table", (Column("a", pa.string(), "text"),), key=("b",),
                      per_delivery=False)  # fmt: skip


@pytest.mark.parametrize(
    ("bounds", "said"),
    [
        (Range(0, 9_999_999_999), "in 0..9,999,999,999"),  # both bounds
        (Range(1), "at least 1"),  # a lower bound only
        (Range(high=5), "at most 5"),  # an upper bound only
    ],
)
def test_a_range_says_its_bounds(bounds, said):
    assert bounds.describe() == said
