"""Splitting flagged lines into kept and quarantined, and counting them."""

from __future__ import annotations

import ibis.expr.types as ir

from healthanalytics.layouts import RAW_COLUMNS
from healthanalytics.transforms.staging import REASONS


def kept_rows(flagged: ir.Table) -> ir.Table:
    """The flagged lines that pass every rule, as canonical raw text."""
    return flagged.filter(flagged.reason.isnull()).select(*RAW_COLUMNS)


def quarantined_rows(flagged: ir.Table) -> ir.Table:
    """The lines held back: the reason, then the raw values as read (`raw_<column>`)."""
    held = flagged.filter(flagged.reason.notnull())
    return held.select("reason", **{f"raw_{name}": held[name] for name in RAW_COLUMNS})


def flag_counts(flagged: ir.Table) -> ir.Table:
    """One row: lines read, kept, and quarantined per reason."""
    reason = flagged.reason
    kept = reason.isnull()
    return flagged.aggregate(
        rows_read=flagged.count(),
        rows_kept=kept.sum().cast("int64"),
        **{name: (reason == name).fill_null(False).sum().cast("int64") for name in REASONS},
    )
