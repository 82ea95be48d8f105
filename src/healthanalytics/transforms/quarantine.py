"""Kept and quarantined lines: the per-line rules, then exact duplicates.

Copies of a line share its prescriber and drug (`_drug_key`) and the fingerprint of its other
values (`_hash`). The CMS file has one line per prescriber and drug, so few passing lines share
a drug key, and fewer still both hashes: only those are compared column by column and numbered,
together with the rejected lines, in one pass that sets them aside. Every other passing line is
kept as it is, so no step copies or sorts the millions of staged lines, even in a file that
repeats every prescriber's drug (years stacked): its lines share drug keys, not fingerprints.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.layouts import RAW_COLUMNS
from healthanalytics.transforms.staging import DUPLICATE_ROW, REASONS
from healthanalytics.transforms.values import printable

_COPY_KEYS = ["_drug_key", "_hash"]


def shared_drug_keys(staged: ir.Table) -> ir.Table:
    """The prescriber-and-drug hashes (`_drug_key`) that more than one passing line has."""
    passed = staged.filter(staged.reason.isnull())
    counts = passed.group_by("_drug_key").aggregate(_lines=passed.count())
    return counts.filter(counts._lines > 1).select("_drug_key")


def possible_copies(staged: ir.Table, shared: ir.Table) -> ir.Table:
    """The (`_drug_key`, `_hash`) pairs that more than one passing line has: only such lines
    can be copies of each other. Counted among the lines of a shared drug key only."""
    passed = staged.filter(staged.reason.isnull()).semi_join(shared, "_drug_key")
    counts = passed.group_by(_COPY_KEYS).aggregate(_lines=passed.count())
    return counts.filter(counts._lines > 1).select(*_COPY_KEYS)


def set_aside(staged: ir.Table, copies: ir.Table) -> ir.Table:
    """The lines not plainly kept, with their final `reason`: every line a per-line rule
    rejects, and every passing line whose hashes other passing lines share, where all copies
    of an exact duplicate after the first become duplicate_row (copies agree on every column,
    known or not, via the fingerprint `_hash`); the first copy keeps a null reason."""
    marked = staged.left_join(copies.mutate(_copy=True), _COPY_KEYS)
    lines = marked.filter(marked.reason.notnull() | marked._copy.notnull())
    # a rejected line and a passing one always differ, so one numbering serves both
    copy = ibis.row_number().over(group_by=[lines[column] for column in (*RAW_COLUMNS, "_hash")])
    duplicate = ibis.ifelse(copy > 0, ibis.literal(DUPLICATE_ROW), ibis.null("string"))
    return lines.select(*RAW_COLUMNS, reason=ibis.coalesce(lines.reason, duplicate))


def kept_rows(staged: ir.Table, copies: ir.Table, aside: ir.Table) -> ir.Table:
    """The lines kept, as canonical raw text: every passing line whose hashes no other line
    shares, and the first of each set of copies among the others."""
    unique = staged.filter(staged.reason.isnull()).anti_join(copies, _COPY_KEYS)
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
        # a sum over no lines is null: an empty input counts zeros
        rows_read=staged.count(),
        passed=staged.reason.isnull().sum().fill_null(0).cast("int64"),
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


def repeated_drug_lines(
    staged: ir.Table, shared: ir.Table, copies: ir.Table, aside: ir.Table
) -> ir.Table:
    """One row: `repeated_drug_lines`, the kept lines whose prescriber and drug (NPI value,
    brand and generic name as read) another kept line shares. Such lines are not copies (those
    are quarantined), they differ in some value; the reports sum them like any other lines.
    Only lines of a shared drug key are looked at, compared on the text (a hash can collide)."""
    passed = staged.filter(staged.reason.isnull()).semi_join(shared, "_drug_key")
    unique = passed.anti_join(copies, _COPY_KEYS)
    first = aside.filter(aside.reason.isnull())
    drug = ("npi", "brand_name", "generic_name")
    kept = unique.select(*drug).union(first.select(*drug))
    per_drug = kept.group_by(
        npi=kept.npi.cast("int64"), brand=kept.brand_name, generic=kept.generic_name
    ).aggregate(lines=kept.count())
    repeated = per_drug.filter(per_drug.lines > 1)
    return repeated.aggregate(repeated_drug_lines=repeated.lines.sum().fill_null(0).cast("int64"))
