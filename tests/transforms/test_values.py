"""Single values: the number rule."""

import ibis

from healthanalytics.transforms.values import (
    is_valid_amount,
    is_valid_count,
    parse_number,
)
from tests.transforms.conftest import rows

# (text, valid as a count, valid as an amount, the number read)
NUMBERS = [
    ("12", True, True, 12.0),
    (" 12 ", True, True, 12.0),  # blanks around are ignored
    ("\t12\n", True, True, 12.0),  # so are tabs and line breaks
    ("12.5", True, True, 12.5),  # a decimal count is rounded later, as before
    (".5", True, True, 0.5),
    ("5.", True, True, 5.0),
    ("+5", True, True, 5.0),
    ("1.5e3", True, True, 1500.0),  # exponent form, within bounds
    ("1,234", True, True, 1234.0),  # thousands separators, as Excel writes them
    ("12,345.67", True, True, 12345.67),
    (" 1,234,567 ", True, True, 1234567.0),
    ("-1,234.5", False, True, -1234.5),  # a negative count is no count; a negative cost is
    ("-3", False, True, -3.0),
    ("-0", True, True, 0.0),  # rounds to the count 0
    ("999999999", True, True, 999999999.0),
    ("1000000000", True, True, 1e9),  # the largest count
    ("1000000000.4", True, True, 1000000000.4),  # rounds to it
    ("1000000000.5", False, True, 1000000000.5),  # rounds above it
    ("999,999,999,999,999", False, True, 999999999999999.0),  # the largest amount's digits
    ("1000000000000000", False, False, None),  # 1e15: no day supply or cost is near
    ("12345678901234567890", False, False, None),  # a 20-digit count
    ("1e308", False, False, None),  # fits no column
    ("1e400", False, False, None),  # beyond a float: infinite
    ("1,23", False, False, None),  # not groups of three
    ("12,34,567", False, False, None),  # Indian grouping
    ("0,123", False, False, None),  # a group cannot start with 0
    ("1,234,", False, False, None),
    (",123", False, False, None),
    ("1,234e3", False, False, None),  # no exponent after groups
    ("12 345", False, False, None),  # a blank inside
    ("NaN", False, False, None),
    ("inf", False, False, None),
    ("-Infinity", False, False, None),
    ("abc", False, False, None),
    ("+", False, False, None),  # a sign alone
    (".", False, False, None),
    ("1_000", False, False, None),  # DuckDB's cast reads this
    ("+-1", False, False, None),  # and this
    ("12d", False, False, None),  # Spark's cast reads this
    ("0x1p3", False, False, None),  # and this
    ("12\x00", False, False, None),  # and this (a NUL around the number)
    ("  ", True, True, None),  # blank stays blank: valid, no number
    (None, True, True, None),  # missing likewise
]


def test_number_rule():
    table = ibis.memtable(
        {"i": range(len(NUMBERS)), "text": [n[0] for n in NUMBERS]},
        schema={"i": "int64", "text": "string"},
    )
    amount = is_valid_amount(table.text)
    got = rows(
        table.select(
            "i",
            "text",
            count=is_valid_count(table.text),
            amount=amount,
            number=ibis.ifelse(amount, parse_number(table.text), None),
        ),
        ["i"],
    )
    assert [(r["text"], r["count"], r["amount"], r["number"]) for r in got] == NUMBERS
