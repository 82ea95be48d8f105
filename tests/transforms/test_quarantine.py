"""Kept and quarantined rows and their counts."""

import ibis

from healthanalytics.layouts import RAW_COLUMNS
from healthanalytics.transforms.quarantine import (
    flag_counts,
    kept_rows,
    quarantined_rows,
)
from tests.transforms.conftest import rows


def flagged(lines):
    data = {name: [] for name in (*RAW_COLUMNS, "reason")}
    for npi, reason in lines:
        for name in data:
            data[name].append({"npi": npi, "reason": reason}.get(name, f"{name}-v"))
    return ibis.memtable(data, schema={name: "string" for name in data})


TABLE = flagged(
    [
        ("1234567893", None),  # kept, Luhn holds
        ("1234567890", None),  # kept
        ("12", "invalid_npi"),
        ("1234567893", "duplicate_row"),
        ("1234567893", "missing_drug"),
    ]
)


def test_counts_reconcile():
    assert rows(flag_counts(TABLE)) == [
        dict(
            rows_read=5,
            rows_kept=2,
            invalid_npi=1,
            missing_drug=1,
            duplicate_row=1,
        )
    ]


def test_split_keeps_raw_values():
    assert [r["npi"] for r in rows(kept_rows(TABLE))] == ["1234567890", "1234567893"]
    held = rows(quarantined_rows(TABLE).select("reason", "raw_npi", "raw_city"))
    assert held == [
        {"reason": "duplicate_row", "raw_npi": "1234567893", "raw_city": "city-v"},
        {"reason": "invalid_npi", "raw_npi": "12", "raw_city": "city-v"},
        {"reason": "missing_drug", "raw_npi": "1234567893", "raw_city": "city-v"},
    ]
