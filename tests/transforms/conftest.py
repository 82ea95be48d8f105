"""Tiny inline tables for transform tests, run on the embedded engine: the engine, a raw
course-layout table of the lines a test writes, and rows to compare."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pytest

from healthanalytics.layouts import COURSE, Layout


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


HEADER = {
    "npi": "npi",
    "last_name": "nppes_provider_last_org_name",
    "first_name": "nppes_provider_first_name",
    "city": "nppes_provider_city",
    "state": "nppes_provider_state",
    "specialty": "specialty_description",
    "brand_name": "drug_name",
    "generic_name": "generic_name",
    "claims": "total_claim_count",
    "day_supply": "total_day_supply",
    "drug_cost": "total_drug_cost",
    "bene_count": "bene_count",
    "years_of_exp": "year_exp",
}
LAYOUT = Layout("course", {canonical: HEADER[canonical] for canonical in COURSE})
NUMBERS = {"day_supply": "30", "drug_cost": "12.50", "bene_count": "11"}


def raw_table(lines, extra=None):
    """A raw course-layout table: each line gives npi, drug, claims and optionally a dict of
    other canonical columns (the rest fixed)."""
    data = {source: [] for source in HEADER.values()}
    if extra is not None:
        data["total_claim_count_ge65"] = extra
    for npi, drug, claims, *more in lines:
        given = {"npi": npi, "brand_name": drug, "claims": claims, **(more[0] if more else {})}
        for canonical, source in HEADER.items():
            data[source].append(given.get(canonical, NUMBERS.get(canonical, f"{canonical}-x")))
    return ibis.memtable(data, schema={name: "string" for name in data})
