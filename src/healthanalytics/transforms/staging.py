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


def blank_to_null(value: ir.StringValue) -> ir.StringValue:
    """The text, with empty or all-blank strings as null."""
    return ibis.ifelse(value.strip() == "", ibis.null("string"), value)


def is_valid_npi(npi: ir.StringValue) -> ir.BooleanValue:
    """True where the NPI is exactly ten digits (surrounding blanks allowed)."""
    return npi.strip().re_search(NPI_PATTERN).fill_null(False)


def flag_prescriptions(raw: ir.Table, layout: Layout) -> ir.Table:
    """Canonical raw text columns plus `reason`: null for rows to keep, else why quarantined.

    Precedence: invalid_npi, then missing_drug, then duplicate_row (every copy of an exact
    duplicate after the first). Duplicates compare every source column, not only the known ones.
    """
    source_columns = list(raw.columns)
    copy_number = ibis.row_number().over(group_by=[raw[c] for c in source_columns])
    staged = raw.select(
        **{
            canonical: blank_to_null(raw[source].cast("string"))
            if (source := layout.columns.get(canonical)) is not None
            else ibis.null("string")
            for canonical in RAW_COLUMNS
        },
        _copy=copy_number,
    )
    reason = ibis.cases(
        (~is_valid_npi(staged.npi), INVALID_NPI),
        (staged.brand_name.isnull(), MISSING_DRUG),
        (staged._copy > 0, DUPLICATE_ROW),
        else_=ibis.null("string"),
    )
    return staged.select(*RAW_COLUMNS, reason=reason)
