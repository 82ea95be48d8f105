"""Staging: rename a source layout to canonical raw columns and flag rows for quarantine."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.layouts import RAW_COLUMNS, Layout

INVALID_NPI = "invalid_npi"
MISSING_DRUG = "missing_drug"
DUPLICATE_ROW = "duplicate_row"
REASONS = (INVALID_NPI, MISSING_DRUG, DUPLICATE_ROW)

NPI_PATTERN = r"^[0-9]{10}$"


def is_blank(value: ir.StringValue) -> ir.BooleanValue:
    """True where the text is missing, empty or only blanks."""
    return value.isnull() | (value.strip() == "")


def is_valid_npi(npi: ir.StringValue) -> ir.BooleanValue:
    """True where the NPI is exactly ten digits (surrounding blanks allowed)."""
    return npi.strip().re_search(NPI_PATTERN).fill_null(False)


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


def row_fingerprint(raw: ir.Table) -> ir.IntegerValue:
    """A hash of every source column of the line, known or not (nulls hash apart from text)."""
    return ibis.struct({column: raw[column] for column in raw.columns}).hash()


def stage_prescriptions(raw: ir.Table, layout: Layout) -> ir.Table:
    """Canonical raw text columns as read (empty text as null, so every reader agrees), the
    line's fingerprint `_hash`, and `reason` for the per-line rules (invalid_npi before
    missing_drug); duplicates are found afterwards."""
    staged = raw.select(
        **{
            canonical: raw[source].cast("string").nullif("")
            if (source := layout.columns.get(canonical)) is not None
            else ibis.null("string")
            for canonical in RAW_COLUMNS
        },
        _hash=row_fingerprint(raw),
    )
    reason = ibis.cases(
        (~is_valid_npi(staged.npi), INVALID_NPI),
        (is_blank(staged.brand_name), MISSING_DRUG),
        else_=ibis.null("string"),
    )
    return staged.mutate(reason=reason)


def flag_duplicates(staged: ir.Table) -> ir.Table:
    """Every staged line with its final `reason`: all copies of an exact duplicate after the
    first become duplicate_row.

    Only lines sharing a fingerprint are compared (column by column, plus the fingerprint, which
    covers columns outside the layout), so the expensive comparison runs on a handful of lines.
    """
    passed = staged.reason.isnull()
    shared = (
        staged.filter(passed)
        .group_by("_hash")
        .aggregate(_lines=ibis._.count())
        .filter(ibis._._lines > 1)
    )
    # Each branch filters the stored table itself, so no engine copies it for a shared subquery.
    # The lines outside `shared` are an anti join, never NOT IN: Spark plans a NOT IN that sits
    # inside a larger condition as a nested-loop join (every line against every shared hash).
    candidates = staged.filter(passed & staged._hash.isin(shared._hash))
    # Filtering after the join keeps this branch off the expression `shared` is built from, so
    # DuckDB does not copy the passed lines into a shared CTE.
    unique = staged.anti_join(shared, "_hash").filter(ibis._.reason.isnull())
    copy_number = ibis.row_number().over(
        group_by=[candidates[column] for column in (*RAW_COLUMNS, "_hash")]
    )
    compared = candidates.mutate(
        reason=ibis.ifelse(copy_number > 0, DUPLICATE_ROW, ibis.null("string"))
    )
    columns = (*RAW_COLUMNS, "reason")
    return (
        staged.filter(~passed)
        .select(*columns)
        .union(unique.select(*columns))
        .union(compared.select(*columns))
    )


def flag_prescriptions(raw: ir.Table, layout: Layout) -> ir.Table:
    """Canonical raw text columns plus `reason`: null for lines to keep, else why quarantined.

    Precedence: invalid_npi, then missing_drug, then duplicate_row (every copy of an exact
    duplicate after the first). Duplicates compare every source column, not only the known ones.
    """
    return flag_duplicates(stage_prescriptions(raw, layout))
