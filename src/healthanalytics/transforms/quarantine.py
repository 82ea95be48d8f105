"""Splitting flagged lines into kept and quarantined, and counting them."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.layouts import RAW_COLUMNS


def kept_rows(flagged: ir.Table) -> ir.Table:
    """The flagged lines that pass every rule, as canonical raw text."""
    return flagged.filter(flagged.reason.isnull()).select(*RAW_COLUMNS)


def quarantined_rows(flagged: ir.Table) -> ir.Table:
    """The lines held back: the reason, then the raw values as read (`raw_<column>`)."""
    held = flagged.filter(flagged.reason.notnull())
    return held.select("reason", **{f"raw_{name}": held[name] for name in RAW_COLUMNS})


def luhn_valid(npi: ir.StringValue) -> ir.BooleanValue:
    """True where a ten-digit NPI's check digit holds (Luhn over the 80840 prefix)."""
    digits = [npi.strip().substr(i, 1).try_cast("int64") for i in range(10)]
    total = ibis.literal(24)  # the digits of the 80840 prefix, already Luhn-weighted
    for position, digit in enumerate(digits[:9]):
        if position % 2 == 0:
            doubled = digit * 2
            total = total + ibis.ifelse(doubled > 9, doubled - 9, doubled)
        else:
            total = total + digit
    return (10 - total % 10) % 10 == digits[9]


def flag_counts(flagged: ir.Table) -> ir.Table:
    """One row: lines read, kept, quarantined per reason, and kept NPIs failing Luhn."""
    reason = flagged.reason
    kept = reason.isnull()
    return flagged.aggregate(
        rows_read=flagged.count(),
        rows_kept=kept.sum().cast("int64"),
        invalid_npi=(reason == "invalid_npi").fill_null(False).sum().cast("int64"),
        missing_drug=(reason == "missing_drug").fill_null(False).sum().cast("int64"),
        duplicate_row=(reason == "duplicate_row").fill_null(False).sum().cast("int64"),
        npi_luhn_failures=(kept & ~luhn_valid(flagged.npi)).fill_null(False).sum().cast("int64"),
    )
