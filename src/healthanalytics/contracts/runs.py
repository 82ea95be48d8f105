"""Contracts of what a run records beside its reports: the quarantine and pipeline_runs."""

from __future__ import annotations

import pyarrow as pa

from healthanalytics.contracts.model import Accepted, Column, Range, TableContract
from healthanalytics.contracts.reports import DELIVERY, FLOAT, INT, TEXT
from healthanalytics.layouts import LAYOUTS, RAW_COLUMNS
from healthanalytics.transforms.staging import REASONS

QUARANTINE = TableContract(
    name="quarantine",
    description=(
        "Every line held back, one row each: the reason, then its raw values as read (text), "
        "so nothing about a rejected line is lost."
    ),
    columns=(
        Column("reason", TEXT, "why the line was held back", not_null=True,
               accepted=Accepted(REASONS)),
        *(
            Column(f"raw_{name}", TEXT,
                   f"the line's {name} as read (control characters as spaces; empty as null)")
            for name in RAW_COLUMNS
        ),
        DELIVERY,
    ),
    # no key: every copy of a duplicated line after the first is held back, each a row
)  # fmt: skip

RUN_STATUSES = ("running", "success", "failed", "abandoned")
TIME = pa.timestamp("us", tz="UTC")


def _count(name: str, description: str, unit: str = "lines") -> Column:
    return Column(name, INT, description, unit=unit, range=Range(0))


def _share(name: str, description: str) -> Column:
    return Column(name, FLOAT, description, unit="share 0..1", range=Range(0, 1))


PIPELINE_RUNS = TableContract(
    name="pipeline_runs",
    description=(
        "One row per run, inserted as running when it starts and updated with its outcome; "
        "a count is null until the run has made it."
    ),
    columns=(
        Column("run_id", TEXT, "the run's id (32 hex digits)", not_null=True),
        Column("run_date", pa.date32(), "the delivery date the run delivers", not_null=True),
        Column("engine", TEXT, "the engine that ran it (setting engine)", not_null=True),
        Column("started_at", TIME, "when it started (UTC)", not_null=True),
        Column("finished_at", TIME, "when it ended (UTC); null while running, or abandoned"),
        Column("status", TEXT, "the outcome so far", not_null=True,
               accepted=Accepted(RUN_STATUSES)),
        Column("error", TEXT, "the one-line error of a failed or abandoned run"),
        Column("fact_source", TEXT, "the fact input (file, folder or URI)"),
        Column("layout", TEXT, "the fact's column layout", accepted=Accepted(tuple(LAYOUTS))),
        _count("rows_read", "lines read from the fact"),
        _count("rows_kept", "lines kept"),
        _count("rows_quarantined", "lines held back in quarantine"),
        _count("quarantined_invalid_npi", "lines held back as invalid_npi"),
        _count("quarantined_missing_drug", "lines held back as missing_drug"),
        _count("quarantined_duplicate_row", "lines held back as duplicate_row"),
        _count("npi_luhn_failures", "kept lines whose NPI fails the Luhn check (still kept)"),
        _count("trx_unimputed", "kept lines whose claim count stays unknown"),
        _share("rows_matched_share", "share of kept lines matched to a dimension city"),
        _share("claims_matched_share", "share of known claims matched to a dimension city"),
        _count("city_report_rows", "rows of city_report", "cities"),
        _count("prescriber_report_rows", "rows of prescriber_report", "prescribers"),
        _count("prescribers_outside_states", "prescribers not ranked: no US state or territory "
               "code", "prescribers"),
        _count("lines_outside_states", "kept lines whose state code is no US state or territory"),
        _count("prescribers_without_claims", "prescribers not ranked: no known claim count",
               "prescribers"),
        _count("unmatched_places", "distinct (city, state) places of kept lines matching no "
               "dimension city", "places"),
        Column("host", TEXT, "host name of the process that ran it", not_null=True),
        Column("pid", INT, "id of the process that ran it", unit="identifier", not_null=True),
        _count("quarantined_invalid_number", "lines held back as invalid_number"),
        _count("repeated_drug_lines", "kept lines sharing a prescriber and drug with another"),
        Column("analysis_error", TEXT, "why the launch analysis failed, when it did: the "
               "delivery then holds no analysis tables (null when it ran or was skipped)"),
    ),
    key=("run_id",),
    per_delivery=False,
)  # fmt: skip
