"""Single values: the number rule, typed (Parquet) values as text, control characters."""

import decimal

import ibis
import pyarrow as pa

from healthanalytics.transforms.staging import as_text, float_text
from healthanalytics.transforms.values import (
    is_valid_amount,
    is_valid_count,
    is_valid_experience,
    parse_number,
    printable,
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
    ("-1,234.5", False, False, None),  # below zero: no count, day supply or cost
    ("-3", False, False, None),
    ("-0", True, True, 0.0),  # zero, not below it: the count 0
    ("-0.4", False, False, None),  # below zero: no count, though it would round to 0
    ("-1e-300", False, False, None),
    ("0.4", True, True, 0.4),  # rounds to the count 0
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


# (experience as read, valid): its first run of digits, leading zeros aside, has at most nine
EXPERIENCES = [
    ("= 12.0", True),
    ("= 999999999.0", True),  # nine digits: the longest kept
    ("= 1000000000.0", False),  # ten
    ("12345678901234567890", False),  # a 20-digit run: was read as null (int64 overflow)
    ("000000000012", True),  # leading zeros are no digits of the number
    ("0000000000000", True),  # nor is a run of zeros
    ("\n 1234567890", False),  # what comes before the first digit does not matter
    ("= 12.0 12345678901", True),  # only the first run counts
    ("abc", True),  # no digits: a null experience
    ("  ", True),
    (None, True),
]


def test_experience_rule():
    table = ibis.memtable(
        {"i": range(len(EXPERIENCES)), "text": [e[0] for e in EXPERIENCES]},
        schema={"i": "int64", "text": "string"},
    )
    got = rows(table.select("i", "text", valid=is_valid_experience(table.text)), ["i"])
    assert [(r["text"], r["valid"]) for r in got] == EXPERIENCES


def test_typed_experience_is_checked_by_value():
    floats = [12.0, 999999999.5, 1e9, -1e9, 1e20, float("inf"), float("nan"), None]
    integers = [12, 999_999_999, 1_000_000_000, -1_000_000_000, 2**63 - 1, -(2**63), 0, None]
    table = ibis.memtable(
        pa.table(
            {
                "i": pa.array(range(len(floats))),
                "f": pa.array(floats, pa.float64()),
                "n": pa.array(integers, pa.int64()),
            }
        )
    )
    got = rows(
        table.select("i", f=is_valid_experience(table.f), n=is_valid_experience(table.n)), ["i"]
    )
    assert [(r["f"], r["n"]) for r in got] == [
        (True, True),
        (True, True),  # below 1e9
        (False, False),  # 1e9: ten digits
        (False, False),  # the magnitude counts
        (False, False),  # 1e20 as text is `1e20`, yet is no number of years; int64's largest
        (False, False),  # infinity; int64's smallest (no overflow taking its magnitude)
        (True, True),  # NaN has no digits: a null experience, as its text `NaN` is
        (True, True),  # missing
    ]


def test_printable_replaces_control_characters_by_a_space():
    texts = ["O\x00BRIEN", "A\tB\nC\rD", "\x1b[31mRED", "DEL\x7f", "C1\x85\x9f", "É ok", None]
    table = ibis.memtable({"i": range(len(texts)), "text": texts})
    got = rows(table.select("i", text=printable(table.text)), ["i"])
    assert [r["text"] for r in got] == [
        "O BRIEN",  # NUL, which PostgreSQL refuses
        "A B C D",  # tab and line breaks
        " [31mRED",  # ESC of a terminal colour code
        "DEL ",
        "C1  ",  # C1 controls (NEL, APC)
        "É ok",  # letters beyond ASCII stay
        None,
    ]


def test_typed_values_are_read_as_text_by_value():
    floats = [
        1234567893.0,  # an NPI in a float64 column: its digits
        None,  # pandas writes a column with nulls as float64
        12.5,
        -12.5,
        0.1,  # the float nearest 0.1, not its binary expansion
        12345678.9,  # Spark's own cast would write 1.23456789E7
        0.9999999999,  # rounds up to the next whole number at nine decimals
        1e-10,  # below nine decimals: 0
        -1e-10,  # no `-0`
        123456789012345678.0,  # below 1e18: every digit
        1e18,  # from 1e18 on: exponent form, one spelling for both engines
        -1.5e300,
        float("nan"),
        float("inf"),
        float("-inf"),
    ]
    table = ibis.memtable(
        pa.table(
            {
                "i": pa.array(range(len(floats))),
                "f": pa.array(floats, pa.float64()),
                "n": pa.array([1234567893, None] + [7] * (len(floats) - 2), pa.int32()),
                "d": pa.array(
                    [decimal.Decimal("12.50"), None]
                    + [decimal.Decimal("-1.05")] * (len(floats) - 2),
                    pa.decimal128(10, 2),
                ),
            }
        )
    )
    got = rows(
        table.select("i", f=float_text(table.f), n=as_text(table.n), d=as_text(table.d)), ["i"]
    )
    assert [r["f"] for r in got] == [
        "1234567893",
        None,
        "12.5",
        "-12.5",
        "0.1",
        "12345678.9",
        "1",
        "0",
        "0",
        "123456789012345680",
        "1e18",
        "-1.5e300",
        "NaN",
        "Infinity",
        "-Infinity",
    ]
    assert [(r["n"], r["d"]) for r in got[:3]] == [
        ("1234567893", "12.50"),
        (None, None),
        ("7", "-1.05"),
    ]
