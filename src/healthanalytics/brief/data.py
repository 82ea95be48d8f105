"""What the launch brief shows, read from the warehouse for one delivery date (never recomputed
from the fact): the persisted tables of that date and its successful run's pipeline_runs row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from healthanalytics.contracts.targets import MODELS
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
    "city_segments",
    "segment_profiles",
    "target_prescribers",
    "model_evaluation",
    "state_cost",
    "peer_outliers",
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


def priority_targets(data: BriefData, limit: int = 10) -> pd.DataFrame:
    """The first `limit` prescribers of target_prescribers by priority tier (1 first), then
    probability (highest first), then NPI; with the name from prescriber_report when it keeps
    the prescriber (only the top prescribers of each state by claims), else blank."""
    targets = data.tables["target_prescribers"]
    if targets.empty:
        return pd.DataFrame()
    ranked = targets.sort_values(["priority_tier", "probability", "presc_id"],
                                 ascending=[True, False, True]).head(limit)  # fmt: skip
    names = data.tables["prescriber_report"].drop_duplicates("presc_id")
    ranked = ranked.merge(names[["presc_id", "presc_fullname"]], on="presc_id", how="left")
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    return ranked[["rank", "presc_id", "presc_fullname", "specialty", "presc_state", "decile",
                   "probability", "segment", "priority_tier", "reasons"]].reset_index(drop=True)


def model_status(evaluation: pd.DataFrame) -> tuple[str | None, str | None]:
    """The lookalike model's status and note in model_evaluation ((None, None) when the
    delivery holds no evaluation: the model was not run)."""
    rows = evaluation[evaluation["model"] == "lookalike"]
    if rows.empty:
        return None, None
    first = rows.iloc[0]
    note = first["note"] if pd.notna(first["note"]) else None
    return str(first["status"]), note


MODEL_METRICS = ("roc_auc", "pr_auc", "brier")


def model_metrics(evaluation: pd.DataFrame) -> pd.DataFrame:
    """One row per model (the lookalike first, then its baselines) with its ROC AUC, PR AUC,
    Brier score (lower is better), precision at the top 10% and lift of the top score decile,
    as model_evaluation holds them (blank when absent)."""
    rows = []
    for model in MODELS:
        figures = evaluation[evaluation["model"] == model]
        if figures.empty:
            continue
        row: dict[str, object] = {"model": model}
        for metric in MODEL_METRICS:
            hit = figures[figures["metric"] == metric]["value"]
            row[metric] = float(hit.iloc[0]) if len(hit) else None
        at = figures[(figures["metric"] == "precision_at_k")
                     & (figures["k_share"].round(6) == 0.1)]["value"]  # fmt: skip
        row["precision_top_10pct"] = float(at.iloc[0]) if len(at) else None
        top = figures[figures["metric"] == "lift"].sort_values("score_decile").tail(1)
        row["top_decile_lift"] = float(top["value"].iloc[0]) if len(top) else None
        rows.append(row)
    columns = ["model", *MODEL_METRICS, "precision_top_10pct", "top_decile_lift"]
    return pd.DataFrame(rows, columns=columns)


def lift_rows(evaluation: pd.DataFrame) -> pd.DataFrame:
    """model_evaluation's lift rows: model, score_decile (10 = the highest scores), lift."""
    rows = evaluation[(evaluation["metric"] == "lift") & evaluation["value"].notna()]
    rows = rows.rename(columns={"value": "lift"})[["model", "score_decile", "lift"]]
    rows = rows.astype({"score_decile": "int64"})  # whole, though read as floats beside nulls
    return rows.sort_values(["model", "score_decile"]).reset_index(drop=True)


CALIBRATION_COLUMNS = ["model", "score_decile", "prescribers", "mean_score", "positive_rate"]


def calibration_points(evaluation: pd.DataFrame) -> pd.DataFrame:
    """model_evaluation's reliability points: per model (the lookalike, then its baselines)
    and score decile (1 first), its prescribers, their mean out-of-fold score (`mean_score`,
    the predicted probability of deciles 8-10, 0..1) and their share in deciles 8-10
    (`positive_rate`, 0..1). Empty when the delivery holds none (the model skipped or not
    run, or a delivery of a release before them)."""
    keys = ["model", "score_decile"]
    known = evaluation[evaluation["value"].notna()]
    predicted = known[known["metric"] == "mean_score"][[*keys, "rows", "value"]]
    observed = known[known["metric"] == "positive_rate"][[*keys, "value"]]
    points = predicted.rename(columns={"rows": "prescribers", "value": "mean_score"}).merge(
        observed.rename(columns={"value": "positive_rate"}), on=keys
    )
    # a column holding nulls reads as floats: the deciles and counts are whole
    points = points.astype({"score_decile": "int64", "prescribers": "int64"})
    points["order"] = points["model"].map({model: i for i, model in enumerate(MODELS)})
    points = points.sort_values(["order", "score_decile"])
    return points[CALIBRATION_COLUMNS].reset_index(drop=True)


OUTLIER_MEASURES = ("market_fills", "cost_per_day")


def outlier_counts(outliers: pd.DataFrame) -> pd.DataFrame:
    """peer_outliers' flags by measure: high, low and all (every measure listed, 0 when
    none)."""
    rows = []
    for measure in OUTLIER_MEASURES:
        flags = outliers[outliers["measure"] == measure]
        high = int((flags["direction"] == "high").sum())
        rows.append((measure, high, len(flags) - high, len(flags)))
    return pd.DataFrame(rows, columns=["measure", "high", "low", "flags"])
