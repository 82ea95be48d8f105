"""Flagging rows for quarantine: NPI validity, missing drug, exact duplicates."""

import ibis
import pyarrow as pa

from healthanalytics.layouts import COURSE, RAW_COLUMNS, Layout
from healthanalytics.transforms.quarantine import (
    kept_rows,
    possible_copies,
    quarantined_rows,
    set_aside,
    shared_drug_keys,
)
from healthanalytics.transforms.staging import luhn_valid, stage_prescriptions
from tests.transforms.conftest import LAYOUT, raw_table, rows


def flag_prescriptions(raw, layout):
    """Every line with its final reason (null when kept), as the pipeline splits them."""
    staged = stage_prescriptions(raw, layout)
    copies = possible_copies(staged, shared_drug_keys(staged))
    aside = set_aside(staged, copies)
    kept = kept_rows(staged, copies, aside).mutate(reason=ibis.null("string"))
    held = quarantined_rows(aside)
    held = held.select(*(held[f"raw_{name}"].name(name) for name in RAW_COLUMNS), "reason")
    return kept.union(held)


def reasons(table):
    return [
        (r["npi"], r["brand_name"], r["claims"], r["reason"])
        for r in rows(table.select("npi", "brand_name", "claims", "reason"))
    ]


def test_invalid_npis_are_flagged_and_ten_digits_kept():
    raw = raw_table(
        [
            ("1234567893", "A", "11"),  # valid
            (" 1234567893 ", "B", "11"),  # surrounding blanks are trimmed, still valid
            ("123456789", "A", "11"),  # nine digits
            ("12345678901", "A", "11"),  # eleven digits
            ("12345A7893", "A", "11"),  # a letter
            ("0123456789", "A", "11"),  # ten digits: valid, though its integer shows nine
            ("", "A", "11"),  # empty
            (None, "A", "12"),  # missing
            ("9999999999", "A", "11"),  # above 2**31: valid (RULES: presc_id is 64-bit)
        ]
    )
    assert reasons(flag_prescriptions(raw, LAYOUT)) == [
        (" 1234567893 ", "B", "11", None),
        ("0123456789", "A", "11", None),
        ("123456789", "A", "11", "invalid_npi"),
        ("12345678901", "A", "11", "invalid_npi"),
        ("1234567893", "A", "11", None),
        ("12345A7893", "A", "11", "invalid_npi"),
        ("9999999999", "A", "11", None),
        (None, "A", "11", "invalid_npi"),
        (None, "A", "12", "invalid_npi"),
    ]


def test_missing_drug_and_precedence():
    raw = raw_table(
        [
            ("1234567893", None, "11"),  # no brand name
            ("1234567893", "  ", "12"),  # blank brand name counts as missing
            ("123", None, "13"),  # invalid NPI wins over missing drug
        ]
    )
    assert reasons(flag_prescriptions(raw, LAYOUT)) == [
        ("123", None, "13", "invalid_npi"),
        ("1234567893", "  ", "12", "missing_drug"),  # raw values stay as read
        ("1234567893", None, "11", "missing_drug"),
    ]


def test_invalid_numbers_and_precedence():
    raw = raw_table(
        [
            ("1234567893", "A", "1,234"),  # thousands separator: a number, kept
            ("1234567893", "B", "1,23"),  # not groups of three
            ("1234567893", "C", "1e308"),  # no count is that large
            ("1234567893", "D", "11", {"drug_cost": "12,345.67"}),  # kept
            ("1234567893", "E", "11", {"drug_cost": "$12.50"}),  # every numeric column counts
            ("1234567893", "F", "11", {"day_supply": "NaN"}),
            ("1234567893", "G", "11", {"bene_count": "-3"}),  # no negative count
            ("1234567893", "H", "  ", {"bene_count": ""}),  # blanks stay blanks: kept
            ("1234567893", "K", "11", {"years_of_exp": "= 12345678901.0"}),  # no years
            ("123", "I", "abc"),  # an invalid NPI comes first
            ("1234567893", None, "abc"),  # then a missing drug
            ("1234567893", "J", "abc"),  # copies of a line with a bad number are all held
            ("1234567893", "J", "abc"),
        ]
    )
    assert reasons(flag_prescriptions(raw, LAYOUT)) == [
        ("123", "I", "abc", "invalid_npi"),
        ("1234567893", "A", "1,234", None),
        ("1234567893", "B", "1,23", "invalid_number"),
        ("1234567893", "C", "1e308", "invalid_number"),
        ("1234567893", "D", "11", None),
        ("1234567893", "E", "11", "invalid_number"),
        ("1234567893", "F", "11", "invalid_number"),
        ("1234567893", "G", "11", "invalid_number"),
        ("1234567893", "H", "  ", None),
        ("1234567893", "J", "abc", "invalid_number"),
        ("1234567893", "J", "abc", "invalid_number"),
        ("1234567893", "K", "11", "invalid_number"),
        ("1234567893", None, "abc", "missing_drug"),
    ]


def test_typed_columns_are_staged_by_value():
    npi = 1234567893.0
    raw = ibis.memtable(
        pa.table(
            {
                "npi": pa.array([npi, None, npi + 0.5, 123456789.0, npi, npi, npi], pa.float64()),
                "drug_name": ["A", "B", "C", "D", "E", "F", "G"],
                "total_claim_count": pa.array([11, 12, 13, 14, 5_000_000_000, 16, 17], pa.int64()),
                "total_drug_cost": pa.array([1.5, 2.0, None, 1e20, 3.0, 1e20, float("nan")]),
            }
        )
    )
    layout = Layout("course", {"npi": "npi", "brand_name": "drug_name", "claims":
                               "total_claim_count", "drug_cost": "total_drug_cost"})  # fmt: skip
    staged = stage_prescriptions(raw, layout)
    got = rows(staged.select("npi", "claims", "drug_cost", "reason"), ["claims"])
    assert got == [
        # an integral float NPI is that NPI
        {"npi": "1234567893", "claims": "11", "drug_cost": "1.5", "reason": None},
        {"npi": None, "claims": "12", "drug_cost": "2", "reason": "invalid_npi"},
        # a fraction is no NPI, nor is a nine-digit number
        {"npi": "1234567893.5", "claims": "13", "drug_cost": None, "reason": "invalid_npi"},
        {"npi": "123456789", "claims": "14", "drug_cost": "1e20", "reason": "invalid_npi"},
        # typed numbers are checked by value: too large a count, too large or no cost
        {"npi": "1234567893", "claims": "16", "drug_cost": "1e20", "reason": "invalid_number"},
        {"npi": "1234567893", "claims": "17", "drug_cost": "NaN", "reason": "invalid_number"},
        {"npi": "1234567893", "claims": "5000000000", "drug_cost": "3", "reason": "invalid_number"},
    ]


def test_exact_duplicates_keep_one_copy():
    raw = raw_table(
        [
            ("1234567893", "A", "11"),
            ("1234567893", "A", "11"),  # exact copy: quarantined
            ("1234567893", "A", "11"),  # second copy: quarantined too
            ("1234567893", "A", "99"),  # differs in claims: not a duplicate
            ("1234567893", "A", None),  # differs by a blank: not a duplicate
            ("12", "B", "11"),  # duplicated invalid rows are all invalid_npi
            ("12", "B", "11"),
        ]
    )
    assert reasons(flag_prescriptions(raw, LAYOUT)) == [
        ("12", "B", "11", "invalid_npi"),
        ("12", "B", "11", "invalid_npi"),
        ("1234567893", "A", "11", "duplicate_row"),
        ("1234567893", "A", "11", "duplicate_row"),
        ("1234567893", "A", "11", None),
        ("1234567893", "A", "99", None),
        ("1234567893", "A", None, None),
    ]


def test_rows_differing_only_in_an_unmapped_column_are_not_duplicates():
    raw = raw_table([("1234567893", "A", "11"), ("1234567893", "A", "11")], extra=["1", "2"])
    assert reasons(flag_prescriptions(raw, LAYOUT)) == [
        ("1234567893", "A", "11", None),
        ("1234567893", "A", "11", None),
    ]


def test_staged_columns_are_canonical_text_with_blanks_as_null():
    raw = raw_table([("1234567893", "A", "")])
    staged = stage_prescriptions(raw, LAYOUT)
    assert staged.columns == (*COURSE, "_hash", "_drug_key", "reason")
    assert rows(staged.select("claims", "years_of_exp")) == [
        {"claims": None, "years_of_exp": "years_of_exp-x"}
    ]


def test_luhn_check_digit():
    npis = ibis.memtable({"npi": [1234567893, 1234567890, 1245319599, 9999999999, None]})
    got = rows(npis.select(npis.npi, ok=luhn_valid(npis.npi)))
    assert got == [
        {"npi": 1234567890, "ok": False},
        {"npi": 1234567893, "ok": True},  # CMS's documented example
        {"npi": 1245319599, "ok": True},
        {"npi": 9999999999, "ok": False},
        {"npi": None, "ok": None},
    ]


def test_lines_differing_only_where_text_could_be_joined_are_not_duplicates():
    # a fingerprint of joined text would make ("A,B", "C") equal ("A", "B,C"); a row hash does not
    raw = raw_table([("1234567893", "A", "11"), ("1234567893", "A", "11")], extra=["x", "x"])
    data = raw.execute()
    data.loc[0, "nppes_provider_city"], data.loc[0, "nppes_provider_state"] = "A\x1fB", "C"
    data.loc[1, "nppes_provider_city"], data.loc[1, "nppes_provider_state"] = "A", "B\x1fC"
    assert [r[3] for r in reasons(flag_prescriptions(ibis.memtable(data), LAYOUT))] == [None, None]
