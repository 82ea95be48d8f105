"""Kept and quarantined lines: the per-line rules, then exact duplicates.

Only lines of the same prescriber and drug can be copies of each other, and there are few of
them (the CMS file has one line per prescriber and drug): they alone are compared column by
column and numbered, together with the rejected lines, in one pass that sets them aside. Every
other passing line is kept as it is, so no step copies or sorts the millions of staged lines.
The same few lines tell which kept lines repeat a prescriber's drug.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.layouts import RAW_COLUMNS
from healthanalytics.transforms.staging import DUPLICATE_ROW, REASONS
from healthanalytics.transforms.values import printable


def shared_drug_keys(staged: ir.Table) -> ir.Table:
    """The prescriber-and-drug hashes (`_drug_key`) that more than one passing line has."""
    passed = staged.filter(staged.reason.isnull())
    counts = passed.group_by("_drug_key").aggregate(_lines=passed.count())
    return counts.filter(counts._lines > 1).select("_drug_key")


def set_aside(staged: ir.Table, shared: ir.Table) -> ir.Table:
    """The lines not plainly kept, with their final `reason`: every line a per-line rule
    rejects, and every passing line with a shared prescriber-and-drug hash, where all copies
    of an exact duplicate after the first become duplicate_row (copies agree on every column,
    known or not, via the fingerprint `_hash`); the first copy keeps a null reason."""
    marked = staged.left_join(shared.mutate(_shared=True), "_drug_key")
    lines = marked.filter(marked.reason.notnull() | marked._shared.notnull())
    # a rejected line and a passing one always differ, so one numbering serves both
    copy = ibis.row_number().over(group_by=[lines[column] for column in (*RAW_COLUMNS, "_hash")])
    duplicate = ibis.ifelse(copy > 0, ibis.literal(DUPLICATE_ROW), ibis.null("string"))
    return lines.select(*RAW_COLUMNS, reason=ibis.coalesce(lines.reason, duplicate))


def kept_rows(staged: ir.Table, shared: ir.Table, aside: ir.Table) -> ir.Table:
    """The lines kept, as canonical raw text: every passing line without a shared
    prescriber-and-drug hash, and the first of each set of copies among the others."""
    unique = staged.filter(staged.reason.isnull()).anti_join(shared, "_drug_key")
    first = aside.filter(aside.reason.isnull())
    return unique.select(*RAW_COLUMNS).union(first.select(*RAW_COLUMNS))


def quarantined_rows(aside: ir.Table) -> ir.Table:
    """The lines held back, one row each: the reason, then the raw values as read
    (`raw_<column>`), control characters replaced by a space (see `printable`)."""
    held = aside.filter(aside.reason.notnull())
    return held.select("reason", **{f"raw_{name}": printable(held[name]) for name in RAW_COLUMNS})


def flag_counts(staged: ir.Table, aside: ir.Table) -> ir.Table:
    """One row: lines read, kept (passing the per-line rules, less the extra copies), and
    quarantined per reason."""
    read = staged.aggregate(
        rows_read=staged.count(), passed=staged.reason.isnull().sum().cast("int64")
    )
    reason = aside.reason
    held = aside.aggregate(
        **{name: (reason == name).sum().fill_null(0).cast("int64") for name in REASONS}
    )
    counts = read.cross_join(held)
    return counts.select(
        "rows_read",
        rows_kept=counts.passed - counts[DUPLICATE_ROW],
        **{name: counts[name] for name in REASONS},
    )


def repeated_drug_lines(aside: ir.Table) -> ir.Table:
    """One row: `repeated_drug_lines`, the kept lines whose prescriber and drug (NPI value,
    brand and generic name as read) another kept line shares. Such lines are not copies (those
    are quarantined), they differ in some value; the reports sum them like any other lines.
    Every such line was set aside, its hash being shared."""
    kept = aside.filter(aside.reason.isnull())
    per_drug = kept.group_by(
        npi=kept.npi.cast("int64"), brand=kept.brand_name, generic=kept.generic_name
    ).aggregate(lines=kept.count())
    repeated = per_drug.filter(per_drug.lines > 1)
    return repeated.aggregate(repeated_drug_lines=repeated.lines.sum().fill_null(0).cast("int64"))
