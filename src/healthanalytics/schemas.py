"""The persisted tables' contract: column names and Arrow types, shared by every target."""

from __future__ import annotations

import pyarrow as pa

from healthanalytics.layouts import RAW_COLUMNS

CITY_REPORT = pa.schema(
    [
        ("city", pa.string()),
        ("state_name", pa.string()),
        ("county_name", pa.string()),
        ("population", pa.int64()),
        ("zip_counts", pa.int64()),
        ("trx_counts", pa.int64()),
        ("presc_counts", pa.int64()),
        ("state_id", pa.string()),
        ("lat", pa.float64()),
        ("lng", pa.float64()),
        ("delivery_date", pa.date32()),
    ]
)

PRESCRIBER_REPORT = pa.schema(
    [
        ("presc_id", pa.int64()),
        ("presc_fullname", pa.string()),
        ("presc_state", pa.string()),
        ("country_name", pa.string()),
        ("years_of_exp", pa.int64()),
        ("trx_cnt", pa.int64()),
        ("total_day_supply", pa.float64()),
        ("total_drug_cost", pa.float64()),
        ("rank", pa.int64()),
        ("delivery_date", pa.date32()),
    ]
)

# The places of kept lines that match no dimension city, the 100 with most lines (see
# transforms.cities.unmatched_places): what a user would add to the dimension or correct.
UNMATCHED_CITIES = pa.schema(
    [
        ("presc_city", pa.string()),
        ("presc_state", pa.string()),
        ("lines", pa.int64()),
        ("claims", pa.int64()),
        ("prescribers", pa.int64()),
        ("rank", pa.int64()),
        ("delivery_date", pa.date32()),
    ]
)

# Raw values exactly as read (text), so nothing about a rejected line is lost.
QUARANTINE = pa.schema(
    [("reason", pa.string())]
    + [(f"raw_{name}", pa.string()) for name in RAW_COLUMNS]
    + [("delivery_date", pa.date32())]
)

PIPELINE_RUNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("run_date", pa.date32()),
        ("engine", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()),
        ("error", pa.string()),
        ("fact_source", pa.string()),
        ("layout", pa.string()),
        ("rows_read", pa.int64()),
        ("rows_kept", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("quarantined_invalid_npi", pa.int64()),
        ("quarantined_missing_drug", pa.int64()),
        ("quarantined_duplicate_row", pa.int64()),
        ("npi_luhn_failures", pa.int64()),
        ("trx_unimputed", pa.int64()),
        ("rows_matched_share", pa.float64()),
        ("claims_matched_share", pa.float64()),
        ("city_report_rows", pa.int64()),
        ("prescriber_report_rows", pa.int64()),
        # prescribers not ranked: no US state or territory code / no known claim count
        ("prescribers_outside_states", pa.int64()),
        ("lines_outside_states", pa.int64()),
        ("prescribers_without_claims", pa.int64()),
        # distinct (city, state) places of kept lines that match no dimension city
        ("unmatched_places", pa.int64()),
        # the process that ran it (the host name and its process id), to name a run in progress
        ("host", pa.string()),
        ("pid", pa.int64()),
        ("quarantined_invalid_number", pa.int64()),
        ("repeated_drug_lines", pa.int64()),
    ]
)

# Tables holding one delivery per run date (replaced on re-run); pipeline_runs only appends.
DELIVERY_TABLES: dict[str, pa.Schema] = {
    "city_report": CITY_REPORT,
    "prescriber_report": PRESCRIBER_REPORT,
    "quarantine": QUARANTINE,
    "unmatched_cities": UNMATCHED_CITIES,
}
TABLES: dict[str, pa.Schema] = {**DELIVERY_TABLES, "pipeline_runs": PIPELINE_RUNS}
