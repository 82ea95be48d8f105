"""Data-quality checks on a run's outputs: unique keys, not-null, ranges, reconciliation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from healthanalytics.transforms.prescribers import is_us_state


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, and what was found."""

    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(name: str, failures: int, what: str) -> CheckResult:
    return CheckResult(name, failures == 0, f"{failures} {what}" if failures else "ok")


def _duplicates(table: ir.Table, keys: list[str]) -> int:
    return int(table.count().execute() - table.select(*keys).distinct().count().execute())


def _nulls(table: ir.Table, columns: list[str]) -> int:
    return int(table.filter(ibis.or_(*[table[c].isnull() for c in columns])).count().execute())


def run_quality_checks(
    record: dict[str, Any],
    city: ir.Table,
    prescribers: ir.Table,
    top_n: int,
    unmatched: ir.Table,
) -> list[CheckResult]:
    """Every check on the run's counts and report tables (`unmatched`: the unmatched_cities
    rows); none raises, the caller decides."""
    quarantined = record["rows_quarantined"]
    per_state = prescribers.group_by("presc_state").aggregate(
        rows=prescribers.count(), top=prescribers["rank"].max(), low=prescribers["rank"].min()
    )
    bad_states = per_state.filter(
        (per_state.rows > top_n) | (per_state.top != per_state.rows) | (per_state.low != 1)
    )
    # a ten-digit NPI as an integer: negative or larger means it overflowed or was misread
    npi_range = prescribers.filter(~prescribers.presc_id.between(0, 9_999_999_999))
    return [
        _check(
            "rows_reconcile",
            abs(record["rows_read"] - record["rows_kept"] - quarantined),
            "rows unaccounted for (read - kept - quarantined)",
        ),
        _check(
            "city_report_unique_city",
            _duplicates(city, ["state_id", "city", "county_name"]),
            "duplicate (state_id, city, county_name) rows",
        ),
        _check(
            "city_report_not_null",
            _nulls(city, ["city", "state_id", "trx_counts", "presc_counts", "zip_counts"]),
            "rows with a null key or count",
        ),
        _check(
            "city_report_has_prescribers",
            int(city.filter(city.presc_counts < 1).count().execute()),
            "cities without a prescriber",
        ),
        _check(
            "prescriber_report_unique_presc_id",
            _duplicates(prescribers, ["presc_id"]),
            "prescribers listed more than once",
        ),
        _check(
            "prescriber_report_not_null",
            _nulls(prescribers, ["presc_id", "presc_state", "trx_cnt", "rank"]),
            "rows with a null presc_id, presc_state, trx_cnt or rank",
        ),
        _check(
            "prescriber_report_us_states",
            int(prescribers.filter(~is_us_state(prescribers.presc_state)).count().execute()),
            "rows whose presc_state is no US state or territory code",
        ),
        _check(
            "prescriber_report_ranks_per_state",
            int(bad_states.count().execute()),
            f"states whose ranks are not exactly 1..k with k <= {top_n}",
        ),
        _check(
            "prescriber_report_npi_in_range",
            int(npi_range.count().execute()),
            "presc_id outside 0..9,999,999,999 (no ten-digit NPI gives them)",
        ),
        _check(
            "unmatched_cities_unique_place",
            _duplicates(unmatched, ["presc_city", "presc_state"]),
            "(presc_city, presc_state) places listed more than once",
        ),
    ]
