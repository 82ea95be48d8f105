"""Splitting staged lines into kept and quarantined, and counting them."""

import ibis

from healthanalytics.layouts import RAW_COLUMNS
from healthanalytics.transforms.quarantine import (
    flag_counts,
    kept_rows,
    quarantined_rows,
    repeated_drug_lines,
    set_aside,
    shared_drug_keys,
)
from healthanalytics.transforms.staging import stage_prescriptions
from tests.transforms.conftest import rows
from tests.transforms.test_staging import LAYOUT, raw_table


def staged(lines):
    """Staged lines from (npi, hash, per-line reason), the hash standing for both the line's
    fingerprint and its prescriber-and-drug key; other columns fixed text."""
    data = {name: [] for name in (*RAW_COLUMNS, "_hash", "_drug_key", "reason")}
    for npi, fingerprint, reason in lines:
        for name in data:
            values = {"npi": npi, "_hash": fingerprint, "_drug_key": fingerprint, "reason": reason}
            data[name].append(values.get(name, f"{name}-v"))
    schema = {name: "string" for name in data} | {"_hash": "int64", "_drug_key": "int64"}
    return ibis.memtable(data, schema=schema)


TABLE = staged(
    [
        ("1234567893", 1, None),  # kept
        ("1234567893", 1, None),  # its exact copy: duplicate_row
        ("1234567890", 2, None),  # kept
        ("1234567891", 2, None),  # same fingerprint, other text: kept (a hash collision)
        ("12", 3, "invalid_npi"),
        ("12", 3, "invalid_npi"),  # rejected copies keep their own reason
        ("1234567893", 4, "missing_drug"),
    ]
)


def split(table):
    shared = shared_drug_keys(table)
    return shared, set_aside(table, shared)


def test_only_rejected_lines_and_shared_drug_keys_are_set_aside():
    shared, aside = split(TABLE)
    assert rows(shared) == [{"_drug_key": 1}, {"_drug_key": 2}]
    assert rows(aside.select("npi", "reason")) == [
        {"npi": "12", "reason": "invalid_npi"},
        {"npi": "12", "reason": "invalid_npi"},
        {"npi": "1234567890", "reason": None},
        {"npi": "1234567891", "reason": None},
        {"npi": "1234567893", "reason": "duplicate_row"},
        {"npi": "1234567893", "reason": "missing_drug"},
        {"npi": "1234567893", "reason": None},
    ]


def test_counts_reconcile():
    _, aside = split(TABLE)
    assert rows(flag_counts(TABLE, aside)) == [
        dict(
            rows_read=7,
            rows_kept=3,
            invalid_npi=2,
            missing_drug=1,
            invalid_number=0,
            duplicate_row=1,
        )
    ]


def test_split_keeps_raw_values():
    shared, aside = split(TABLE)
    kept = rows(kept_rows(TABLE, shared, aside))
    assert [r["npi"] for r in kept] == ["1234567890", "1234567891", "1234567893"]
    assert list(kept[0]) == list(RAW_COLUMNS)
    held = rows(quarantined_rows(aside).select("reason", "raw_npi", "raw_city"))
    assert held == [
        {"reason": "duplicate_row", "raw_npi": "1234567893", "raw_city": "city-v"},
        {"reason": "invalid_npi", "raw_npi": "12", "raw_city": "city-v"},
        {"reason": "invalid_npi", "raw_npi": "12", "raw_city": "city-v"},
        {"reason": "missing_drug", "raw_npi": "1234567893", "raw_city": "city-v"},
    ]


def test_kept_lines_repeating_a_prescribers_drug_are_counted():
    raw = raw_table(
        [
            ("1234567893", "A", "11"),
            ("1234567893", "A", "12"),  # same prescriber and drug, another claim count: both
            (" 1234567893", "A", "13"),  # the same NPI written with a blank: a third
            ("1234567893", "A", "11"),  # an exact copy of the first: quarantined, not counted
            ("1234567893", "B", "11"),  # another drug
            ("1234567893", "B", "11"),  # copies alone: one line kept, nothing repeated
            ("1234567890", "C", "11", {"generic_name": "X"}),
            ("1234567890", "C", "11", {"generic_name": "Y"}),  # another generic: another drug
            ("1234567890", "D", "11"),
            ("1234567890", "D", "1,23"),  # a held line repeats nothing
        ]
    )
    staged = stage_prescriptions(raw, LAYOUT)
    _, aside = split(staged)
    assert rows(repeated_drug_lines(aside)) == [{"repeated_drug_lines": 3}]
    assert rows(repeated_drug_lines(split(TABLE)[1])) == [{"repeated_drug_lines": 0}]


def test_quarantined_raw_values_lose_control_characters_only():
    table = staged([("12\x00", 1, "invalid_npi"), ("12", 2, "invalid_npi")])
    _, aside = split(table)
    # the two lines differ (no copies), and the NUL is stored as a space
    assert rows(quarantined_rows(aside).select("reason", "raw_npi")) == [
        {"reason": "invalid_npi", "raw_npi": "12"},
        {"reason": "invalid_npi", "raw_npi": "12 "},
    ]
