"""Splitting staged lines into kept and quarantined, and counting them."""

import ibis

from healthanalytics.layouts import RAW_COLUMNS
from healthanalytics.transforms.quarantine import (
    flag_counts,
    kept_rows,
    possible_copies,
    quarantined_rows,
    repeated_drug_lines,
    set_aside,
    shared_drug_keys,
)
from healthanalytics.transforms.staging import stage_prescriptions
from tests.transforms.conftest import LAYOUT, raw_table, rows


def staged(lines):
    """Staged lines from (npi, fingerprint, per-line reason[, drug key]), the drug key being
    the fingerprint unless given; other columns fixed text."""
    data = {name: [] for name in (*RAW_COLUMNS, "_hash", "_drug_key", "reason")}
    for npi, fingerprint, reason, *key in lines:
        values = {"npi": npi, "_hash": fingerprint, "_drug_key": (key or [fingerprint])[0]}
        for name in data:
            data[name].append({**values, "reason": reason}.get(name, f"{name}-v"))
    schema = {name: "string" for name in data} | {"_hash": "int64", "_drug_key": "int64"}
    return ibis.memtable(data, schema=schema)


TABLE = staged(
    [
        ("1234567893", 1, None),  # kept
        ("1234567893", 1, None),  # its exact copy: duplicate_row
        ("1234567890", 2, None),  # kept
        ("1234567891", 2, None),  # same hashes, other text: kept (a hash collision)
        ("12", 3, "invalid_npi"),
        ("12", 3, "invalid_npi"),  # rejected copies keep their own reason
        ("1234567893", 4, "missing_drug"),
        ("1234567892", 5, None, 7),  # same drug key, another fingerprint (another year, say):
        ("1234567892", 6, None, 7),  # no copies, so kept without being set aside
    ]
)


def split(table):
    shared = shared_drug_keys(table)
    copies = possible_copies(table, shared)
    return shared, copies, set_aside(table, copies)


def test_only_rejected_lines_and_possible_copies_are_set_aside():
    shared, copies, aside = split(TABLE)
    assert rows(shared) == [{"_drug_key": 1}, {"_drug_key": 2}, {"_drug_key": 7}]
    assert rows(copies) == [{"_drug_key": 1, "_hash": 1}, {"_drug_key": 2, "_hash": 2}]
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
    *_, aside = split(TABLE)
    assert rows(flag_counts(TABLE, aside)) == [
        dict(
            rows_read=9,
            rows_kept=5,
            invalid_npi=2,
            missing_drug=1,
            invalid_number=0,
            duplicate_row=1,
        )
    ]


def test_split_keeps_raw_values():
    _, copies, aside = split(TABLE)
    kept = rows(kept_rows(TABLE, copies, aside))
    assert [r["npi"] for r in kept] == [
        "1234567890",
        "1234567891",
        "1234567892",
        "1234567892",
        "1234567893",
    ]
    assert list(kept[0]) == list(RAW_COLUMNS)
    held = rows(quarantined_rows(aside).select("reason", "raw_npi", "raw_city"))
    assert held == [
        {"reason": "duplicate_row", "raw_npi": "1234567893", "raw_city": "city-v"},
        {"reason": "invalid_npi", "raw_npi": "12", "raw_city": "city-v"},
        {"reason": "invalid_npi", "raw_npi": "12", "raw_city": "city-v"},
        {"reason": "missing_drug", "raw_npi": "1234567893", "raw_city": "city-v"},
    ]


def test_counts_of_no_lines_are_zeros():
    # an input that reads no lines counts zeros, never nulls
    empty = staged([])
    *_, aside = split(empty)
    assert rows(flag_counts(empty, aside)) == [
        dict(
            rows_read=0,
            rows_kept=0,
            invalid_npi=0,
            missing_drug=0,
            invalid_number=0,
            duplicate_row=0,
        )
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
    assert rows(repeated_drug_lines(staged, *split(staged))) == [{"repeated_drug_lines": 3}]
    # the fingerprint holds the numbers: only the two sets of copies share both hashes, not the
    # lines of drug A that differ in a claim count
    assert len(rows(split(staged)[1])) == 2
    # the two lines of drug key 7 (stacked years) are kept without being set aside: counted too
    assert rows(repeated_drug_lines(TABLE, *split(TABLE))) == [{"repeated_drug_lines": 2}]


def test_quarantined_raw_values_lose_control_characters_only():
    table = staged([("12\x00", 1, "invalid_npi"), ("12", 2, "invalid_npi")])
    *_, aside = split(table)
    # the two lines differ (no copies), and the NUL is stored as a space
    assert rows(quarantined_rows(aside).select("reason", "raw_npi")) == [
        {"reason": "invalid_npi", "raw_npi": "12"},
        {"reason": "invalid_npi", "raw_npi": "12 "},
    ]
