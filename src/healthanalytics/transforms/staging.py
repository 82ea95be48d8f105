"""Staging: rename a source layout to canonical raw columns and flag rows for quarantine."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.layouts import RAW_COLUMNS, Layout
from healthanalytics.transforms.values import (
    BLANK,
    is_valid_amount,
    is_valid_count,
    is_valid_experience,
)

INVALID_NPI = "invalid_npi"
MISSING_DRUG = "missing_drug"
INVALID_NUMBER = "invalid_number"
DUPLICATE_ROW = "duplicate_row"
REASONS = (INVALID_NPI, MISSING_DRUG, INVALID_NUMBER, DUPLICATE_ROW)

# These run on every line: a regex costs a third of a custom-character trim.
NPI_PATTERN = rf"^{BLANK}*[0-9]{{10}}{BLANK}*\z"
NOT_BLANK = BLANK.replace("[", "[^", 1)
# Typed (Parquet) floats are written with at most this many decimals, and from this magnitude
# on in exponent form: no count, amount or NPI is near it.
_FLOAT_DECIMALS = 9
_FLOAT_PLAIN_BELOW = 1e18
_FINGERPRINTED_NUMBERS = ("claims", "day_supply", "drug_cost", "bene_count")
_NUMBER_RULES = {
    "claims": is_valid_count,
    "day_supply": is_valid_amount,
    "drug_cost": is_valid_amount,
    "bene_count": is_valid_count,
    "years_of_exp": is_valid_experience,
}


def is_blank(value: ir.StringValue) -> ir.BooleanValue:
    """True where the text is missing, empty or only blanks."""
    return ~value.re_search(NOT_BLANK).fill_null(False)


def is_valid_npi(npi: ir.StringValue) -> ir.BooleanValue:
    """True where the NPI is exactly ten digits (surrounding blanks allowed)."""
    return npi.re_search(NPI_PATTERN).fill_null(False)


def luhn_valid(npi: ir.IntegerValue) -> ir.BooleanValue:
    """True where a ten-digit NPI's check digit holds (Luhn over the 80840 prefix)."""
    digits = [(npi // 10 ** (9 - position)) % 10 for position in range(10)]
    total = ibis.literal(24)  # the digits of the 80840 prefix, already Luhn-weighted
    for position, digit in enumerate(digits[:9]):
        if position % 2 == 0:
            doubled = digit * 2
            total = total + ibis.ifelse(doubled > 9, doubled - 9, doubled)
        else:
            total = total + digit
    return (10 - total % 10) % 10 == digits[9]


def row_fingerprint(raw: ir.Table, layout: Layout) -> ir.IntegerValue:
    """A hash of what the staged text does not hold exactly, the source columns the layout
    does not map (nulls hash apart from text) and typed ones, whose text may round
    (`float_text`); and of the numbers, in which the lines of one prescriber and drug differ
    (years stacked in one file). With the staged text compared too, it tells lines apart on
    every column of the file; hashing these costs less than hashing the whole line."""
    numbers = {layout.columns.get(name) for name in _FINGERPRINTED_NUMBERS}
    kept_as_text = {
        source
        for source in layout.columns.values()
        if source is not None and source not in numbers and raw[source].type().is_string()
    }
    rest = [column for column in raw.columns if column not in kept_as_text]
    if not rest:
        return ibis.literal(0, "int64")
    return ibis.struct({column: raw[column] for column in rest}).hash()


def float_text(number: ir.FloatingValue) -> ir.StringValue:
    """A typed float as text, the same on every engine (their own casts differ: Spark writes
    1234567893.0 as `1.234567893E9`): whole numbers as their digits, others rounded to nine
    decimals without trailing zeros (`12.5`), from 1e18 on `1e+18`-style exponent form, and
    `NaN`, `Infinity`, `-Infinity`."""
    size = number.abs()
    # a stand-in below 1e18 where the number is not, so that no cast to int64 can overflow
    shown = ibis.ifelse(size < _FLOAT_PLAIN_BELOW, size, 0.0)
    whole = shown.floor()
    nanos = ((shown - whole) * 10**_FLOAT_DECIMALS).round()
    carry = nanos >= 10**_FLOAT_DECIMALS  # .9999999999 rounds up into the whole part
    whole = ibis.ifelse(carry, whole + 1, whole)
    nanos = ibis.ifelse(carry, 0, nanos)
    decimals = nanos.cast("string").lpad(_FLOAT_DECIMALS, "0").re_replace("0+$", "")
    plain = whole.cast("string") + ibis.ifelse(nanos == 0, "", "." + decimals)
    signed = ibis.ifelse((number < 0) & ((whole > 0) | (nanos > 0)), "-" + plain, plain)
    # both engines write such numbers in exponent form, spelled differently (`1e+20`, `1.0E20`)
    exponent = number.cast("string").re_replace(r"(\.0+)?[eE]\+?", "e")
    return ibis.cases(
        (number.isnan(), "NaN"),
        (number.isinf(), ibis.ifelse(number > 0, "Infinity", "-Infinity")),
        (size < _FLOAT_PLAIN_BELOW, signed),
        else_=exponent,
    )


def as_text(value: ir.Value) -> ir.StringValue:
    """A source column as text, by value when typed (Parquet): integers as their digits,
    floats by `float_text` (so a float64 NPI 1234567893.0 is `1234567893`), decimals as
    written at their scale (`12.50`); text as it is."""
    dtype = value.type()
    if dtype.is_string():
        return value
    if dtype.is_floating():
        return float_text(value.cast("float64"))
    return value.cast("string")


def drug_key(
    npi: ir.StringValue, brand: ir.StringValue, generic: ir.StringValue
) -> ir.IntegerValue:
    """A hash of the line's prescriber and drug: the NPI's value (` 1234567893` and
    `1234567893` alike) and the brand and generic names as read."""
    return ibis.struct({"npi": npi.try_cast("int64"), "brand": brand, "generic": generic}).hash()


def numbers_valid(raw: ir.Table, layout: Layout) -> ir.BooleanValue:
    """True where every number of the line (claims, day supply, cost, beneficiaries,
    experience) is blank or valid (see `values`); typed columns are checked by value, with no
    text to parse."""
    valid = ibis.literal(True)
    for canonical, rule in _NUMBER_RULES.items():
        if (source := layout.columns.get(canonical)) is not None:
            valid = valid & rule(raw[source])
    return valid


def stage_prescriptions(raw: ir.Table, layout: Layout) -> ir.Table:
    """Canonical raw text columns as read (typed columns by value, empty text as null, so every
    reader agrees), the fingerprint `_hash` of the rest of the line (see `row_fingerprint`),
    its prescriber-and-drug hash `_drug_key`, and `reason` for the per-line rules (invalid_npi,
    then missing_drug, then invalid_number); duplicates are found afterwards (`quarantine`)."""
    staged = raw.select(
        **{
            canonical: as_text(raw[source]).nullif("")
            if (source := layout.columns.get(canonical)) is not None
            else ibis.null("string")
            for canonical in RAW_COLUMNS
        },
        _hash=row_fingerprint(raw, layout),
        _numbers_valid=numbers_valid(raw, layout),
    )
    reason = ibis.cases(
        (~is_valid_npi(staged.npi), INVALID_NPI),
        (is_blank(staged.brand_name), MISSING_DRUG),
        (~staged._numbers_valid, INVALID_NUMBER),
        else_=ibis.null("string"),
    )
    return staged.select(
        *RAW_COLUMNS,
        "_hash",
        _drug_key=drug_key(staged.npi, staged.brand_name, staged.generic_name),
        reason=reason,
    )
