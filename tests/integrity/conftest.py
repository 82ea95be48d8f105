"""The integrity corpus: small odd or broken inputs run through the real pipeline in process,
on both engines and both warehouses, with the exact outcome asserted.

`run_case` runs one delivery and returns what a user would see: the one-line error (None on
success) and every persisted table afterwards, so a test can assert that a refused run left the
earlier delivery as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# the in-process run and its constants live in tests/conftest.py, shared with the CLI tests;
# named here too for the integrity modules that import them from this package
from tests.conftest import (  # noqa: F401
    CITIES,
    RUN_DATE,
    SAMPLE,
    Outcome,
    read_tables,
    run_case,
)


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine_name(request) -> str:
    """Each case on both engines."""
    if request.param == "spark":
        request.getfixturevalue("spark_in_process")
    return request.param


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path) -> str:
    """Each case on both warehouses: a DuckDB file, and a new database on a real PostgreSQL."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "warehouse.duckdb")


@pytest.fixture
def run(tmp_path) -> Callable[..., Outcome]:
    """`run(fact, engine=..., db=..., **settings)` with this test's output folder; the launch
    analysis is off unless a test turns it on."""

    def go(fact: Path | str, **kwargs: Any) -> Outcome:
        kwargs.setdefault("output", tmp_path / "out")
        kwargs.setdefault("db", str(tmp_path / "warehouse.duckdb"))
        # the corpus is about reading and loading; tests/analysis tests the analysis
        kwargs.setdefault("analysis", False)
        return run_case(fact, **kwargs)

    return go
