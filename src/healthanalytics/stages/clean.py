"""Stage `clean`: the one pass over the input, its lines kept or quarantined, counted."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import ibis.expr.types as ir

from healthanalytics.config import Settings
from healthanalytics.engines import Engine
from healthanalytics.io.integrity import InputCheck
from healthanalytics.io.warehouse import Warehouse
from healthanalytics.stages.ingest import Ingested
from healthanalytics.stages.record import CleaningCounts, RunRecord
from healthanalytics.stages.timing import store
from healthanalytics.transforms.cleaning import clean_prescriptions, cleaning_counts
from healthanalytics.transforms.quarantine import (
    flag_counts,
    kept_rows,
    possible_copies,
    repeated_drug_lines,
    set_aside,
    shared_drug_keys,
)
from healthanalytics.transforms.staging import REASONS, stage_prescriptions

log = logging.getLogger(__name__)


class ReconciliationError(RuntimeError):
    """Rows in did not equal rows kept plus rows quarantined."""


class DeliveryShrinkError(RuntimeError):
    """The run would replace a date's delivery with nothing, or with far fewer rows."""


@dataclass(frozen=True)
class Cleaned:
    """The kept lines as prescriber places (`clean`), the lines set aside (`aside`: every
    quarantined line with its reason, and the first of each set of copies), the counts, and
    the kept lines themselves as raw text (`kept`, see `quarantine.kept_rows`: an expression
    over the stored staged lines, which the analysis aggregates per prescriber and drug only
    when it runs)."""

    clean: ir.Table
    aside: ir.Table
    counts: CleaningCounts
    kept: ir.Table

    def summary(self) -> str:
        c = self.counts
        return f"{c.rows_read:,} read = {c.rows_kept:,} kept + {c.rows_quarantined:,} quarantined"


def clean(engine: Engine, ingested: Ingested, verify: InputCheck) -> Cleaned:
    """Stage, check and deduplicate every line of the fact input, then aggregate the kept ones.

    Raises CorruptInputError when a compressed input turned out cut short or corrupt, and
    ReconciliationError when lines read != lines kept + lines quarantined."""
    staged = store(engine, stage_prescriptions, ingested.raw, ingested.fact.layout)
    verify.wait()  # the inputs are read: refuse them now if one was cut short or corrupt
    shared = store(engine, shared_drug_keys, staged)
    copies = store(engine, possible_copies, staged, shared)
    aside = store(engine, set_aside, staged, copies)
    flags = engine.one_row(flag_counts(staged, aside))
    clean = store(engine, clean_prescriptions, staged, copies, aside)
    cleaned = engine.one_row(cleaning_counts(clean))
    repeated = engine.one_row(repeated_drug_lines(staged, shared, copies, aside))
    counts = CleaningCounts(
        rows_read=flags["rows_read"],
        rows_kept=flags["rows_kept"],
        rows_quarantined=sum(flags[reason] for reason in REASONS),
        **{f"quarantined_{reason}": flags[reason] for reason in REASONS},
        npi_luhn_failures=cleaned["npi_luhn_failures"] or 0,
        trx_unimputed=cleaned["trx_unimputed"] or 0,
        repeated_drug_lines=repeated["repeated_drug_lines"],
    )
    rows_clean = cleaned["rows_clean"] or 0
    if (
        counts.rows_read != counts.rows_kept + counts.rows_quarantined
        or rows_clean != counts.rows_kept
    ):
        raise ReconciliationError(
            f"rows do not reconcile: read {counts.rows_read}, kept {counts.rows_kept} "
            f"(cleaned {rows_clean}), quarantined {counts.rows_quarantined}"
        )
    # over the stored staged lines, not the input: the analysis needs no second pass over it
    return Cleaned(clean, aside, counts, kept_rows(staged, copies, aside))


def refuse_smaller_delivery(settings: Settings, warehouse: Warehouse, record: RunRecord) -> None:
    """Refuse, before anything is written, a run that keeps no rows or fewer than
    `min_delivery_share` of the rows kept by the delivery of its date it would replace (the last
    successful run of that date), unless `allow_smaller_delivery`.

    Raises DeliveryShrinkError naming the input, the counts and the option that allows it."""
    kept, read = record.rows_kept or 0, record.rows_read or 0
    previous = warehouse.last_delivery(settings.run_date)
    what = "deliver it anyway"
    if kept == 0:
        problem = (
            f"keeps no rows ({read:,} read, {record.rows_quarantined or 0:,} quarantined"
            f"{_reasons(record)}), so the delivery of {settings.run_date} would be empty"
        )
    elif previous and kept < settings.min_delivery_share * (previous["rows_kept"] or 0):
        problem = (
            f"keeps {kept:,} rows, fewer than min_delivery_share {settings.min_delivery_share:g} "
            f"of the {previous['rows_kept']:,} kept by the delivery of {settings.run_date} it "
            f"would replace (run {previous['run_id']})"
        )
        what = "replace it anyway"
    else:
        return
    if settings.allow_smaller_delivery:
        log.warning("%s: %s: delivered as allowed", record.fact_source, problem)
        return
    raise DeliveryShrinkError(
        f"{record.fact_source}: {problem}; nothing was changed: check the input, or pass "
        f"--allow-smaller-delivery to {what}"
    )


def _reasons(record: RunRecord) -> str:
    """`: 100 invalid_npi, 5 missing_drug`: the quarantine's reasons, most lines first, so a
    refusal of an all-quarantined input says why (RULES, "Cleaning")."""
    counts = sorted(
        ((getattr(record, f"quarantined_{reason}") or 0, reason) for reason in REASONS),
        key=lambda pair: -pair[0],
    )
    shown = ", ".join(f"{count:,} {reason}" for count, reason in counts if count)
    return f": {shown}" if shown else ""
