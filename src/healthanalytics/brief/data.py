"""What the launch brief shows, read from the warehouse for one delivery date (never recomputed
from the fact): the persisted tables of that date and its successful run's pipeline_runs row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from healthanalytics.io.warehouse import Warehouse

BRIEF_TABLES = (
    "city_report",
    "prescriber_report",
    "unmatched_cities",
    "market_prescribers",
    "market_deciles",
    "market_products",
    "market_specialties",
    "market_summary",
    "market_geography",
)
QUARANTINE_REASONS = ("invalid_npi", "missing_drug", "invalid_number", "duplicate_row")


class NoDeliveryError(LookupError):
    """The warehouse holds no successful delivery of the date asked for."""


@dataclass(frozen=True)
class BriefData:
    """One delivery's tables (as pandas frames), its run's row and the run's quality checks
    (None when they are not at hand: the warehouse does not persist them)."""

    delivery_date: dt.date
    run: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    checks: list[dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any] | None:
        """The market_summary row, or None when the delivery holds no analysis."""
        frame = self.tables["market_summary"]
        return None if frame.empty else frame.iloc[0].to_dict()

    @property
    def has_experience(self) -> bool:
        """Whether the fact carried an experience column (the CMS layout has none)."""
        years = self.tables["prescriber_report"].get("years_of_exp")
        return self.run.get("layout") != "cms" and years is not None and years.notna().any()


def read_brief_data(
    warehouse: Warehouse,
    delivery_date: dt.date,
    checks: Sequence[dict[str, Any]] | None = None,
) -> BriefData:
    """The delivery of `delivery_date`: its last successful run and its tables; NoDeliveryError
    when no run delivered that date."""
    runs = warehouse.read_delivery("pipeline_runs", delivery_date).to_pylist()
    done = [run for run in runs if run.get("status") == "success"]
    if not done:
        raise NoDeliveryError(f"no delivery for {delivery_date.isoformat()}")
    run = max(done, key=lambda row: row["finished_at"] or row["started_at"])
    tables = {
        name: warehouse.read_delivery(name, delivery_date).to_pandas() for name in BRIEF_TABLES
    }
    return BriefData(delivery_date, run, tables, list(checks) if checks is not None else None)


def analysis_missing_reason(data: BriefData) -> str | None:
    """Why the delivery holds no market analysis, or None when it does."""
    if data.summary is not None:
        return None
    error = data.run.get("analysis_error")
    if error:
        return f"the launch analysis failed in this run ({error})"
    return "the run did not compute the launch analysis (it was run with --no-analysis)"


def quarantine_counts(run: dict[str, Any]) -> pd.DataFrame:
    """Rows read, kept and quarantined by reason, from the run's row."""
    rows = [("read", run.get("rows_read")), ("kept", run.get("rows_kept"))]
    rows += [(f"quarantined: {reason}", run.get(f"quarantined_{reason}")) for reason in
             QUARANTINE_REASONS]  # fmt: skip
    return pd.DataFrame(
        [(label, int(value or 0)) for label, value in rows], columns=["rows", "lines"]
    )


def top_targets(data: BriefData, limit: int = 20) -> pd.DataFrame:
    """The largest writers of the market by fills, with their decile, name and state (and
    experience when the fact had it)."""
    market = data.tables["market_prescribers"]
    if market.empty:
        return pd.DataFrame()
    writers = market[market["fills"] > 0].sort_values(
        ["fills", "presc_id"], ascending=[False, True]
    )
    top = writers.head(limit)
    names = data.tables["prescriber_report"].drop_duplicates("presc_id")
    columns = ["presc_id", "presc_fullname"] + (["years_of_exp"] if data.has_experience else [])
    top = top.merge(names[columns], on="presc_id", how="left")
    top.insert(0, "rank", range(1, len(top) + 1))
    keep = ["rank", "presc_id", "presc_fullname", "specialty", "presc_state", "fills",
            "claims", "drug_cost", "decile"]  # fmt: skip
    if data.has_experience:
        keep.append("years_of_exp")
    return top[keep].reset_index(drop=True)
