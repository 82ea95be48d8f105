"""Kept and quarantined lines: the per-line rules, then exact duplicates.

Only lines sharing a fingerprint can be copies of each other, and there are few of them: they
alone are compared column by column and numbered. Every other passing line is kept as it is,
so no step copies or sorts the millions of staged lines.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.layouts import RAW_COLUMNS
from healthanalytics.transforms.staging import DUPLICATE_ROW, REASONS


def shared_fingerprints(staged: ir.Table) -> ir.Table:
    """The fingerprints (`_hash`) that more than one passing line has."""
    passed = staged.filter(staged.reason.isnull())
    counts = passed.group_by("_hash").aggregate(_lines=passed.count())
    return counts.filter(counts._lines > 1).select("_hash")


def numbered_copies(staged: ir.Table, shared: ir.Table) -> ir.Table:
    """The passing lines with a shared fingerprint, each numbered among its exact copies
    (`copy`, 0 for the first): copies agree on every column, known or not (via the
    fingerprint)."""
    lines = staged.filter(staged.reason.isnull()).semi_join(shared, "_hash")
    copy = ibis.row_number().over(group_by=[lines[column] for column in (*RAW_COLUMNS, "_hash")])
    return lines.select(*RAW_COLUMNS, copy=copy)


def kept_rows(staged: ir.Table, shared: ir.Table, numbered: ir.Table) -> ir.Table:
    """The lines kept, as canonical raw text: every passing line without a shared
    fingerprint, and the first of each set of copies."""
    unique = staged.filter(staged.reason.isnull()).anti_join(shared, "_hash")
    first = numbered.filter(numbered.copy == 0)
    return unique.select(*RAW_COLUMNS).union(first.select(*RAW_COLUMNS))


def quarantined_rows(staged: ir.Table, numbered: ir.Table) -> ir.Table:
    """The lines held back, one row each: the reason, then the raw values as read
    (`raw_<column>`)."""
    raw = {f"raw_{name}": name for name in RAW_COLUMNS}
    rejected = staged.filter(staged.reason.notnull()).select("reason", **raw)
    copies = numbered.filter(numbered.copy > 0).mutate(reason=ibis.literal(DUPLICATE_ROW))
    return rejected.union(copies.select("reason", **raw))


def flag_counts(staged: ir.Table, numbered: ir.Table) -> ir.Table:
    """One row: lines read, kept, and quarantined per reason."""
    reason = staged.reason
    read = staged.aggregate(
        rows_read=staged.count(),
        passed=reason.isnull().sum().cast("int64"),
        **{
            name: (reason == name).fill_null(False).sum().cast("int64")
            for name in REASONS
            if name != DUPLICATE_ROW
        },
    )
    copies = numbered.aggregate(duplicate_row=(numbered.copy > 0).sum().fill_null(0).cast("int64"))
    counts = read.cross_join(copies)
    return counts.select(
        "rows_read",
        rows_kept=counts.passed - counts.duplicate_row,
        **{name: counts[name] for name in REASONS},
    )
