"""Tiny inline tables for transform tests, run on the embedded engine."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pytest


@pytest.fixture
def con():
    backend = ibis.duckdb.connect()
    yield backend
    backend.disconnect()


def rows(expr: ir.Table, sort_by: list[str] | None = None) -> list[dict[str, Any]]:
    """The table's rows as dicts (NaN/NaT as None), sorted for comparison."""
    frame = expr.execute()
    frame = frame.astype(object).where(pd.notna(frame), None)
    records = frame.to_dict(orient="records")
    keys = sort_by or list(frame.columns)
    return sorted(
        records, key=lambda r: tuple((r[k] is None, r[k] if r[k] is not None else 0) for k in keys)
    )
