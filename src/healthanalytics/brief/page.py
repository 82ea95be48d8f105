"""The launch brief as one self-contained HTML page (Jinja2, autoescaped): the charts embedded as
data: URIs, the CSS inline, no request to any other host."""

from __future__ import annotations

import base64
import numbers
from dataclasses import dataclass
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from healthanalytics.brief import charts as ch
from healthanalytics.brief.data import (
    BriefData,
    analysis_missing_reason,
    calibration_points,
    lift_rows,
    model_metrics,
    model_status,
    outlier_counts,
    priority_targets,
    quarantine_counts,
    top_targets,
)

SOURCE_CREDIT = "CMS Medicare Part D Prescribers by Provider and Drug"
CITIES_CREDIT = "simplemaps US Cities Basic, CC BY 4.0"
EXPERIENCE_MISSING = (
    "Years of experience are not shown: the fact's layout (CMS) has no experience column."
)


@dataclass(frozen=True)
class Brief:
    """The rendered page, its charts and the tables it shows (each also written as CSV)."""

    html: str
    charts: tuple[ch.Chart, ...]
    tables: dict[str, pd.DataFrame]


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("healthanalytics.brief", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["data_uri"] = lambda png: "data:image/png;base64," + base64.b64encode(png).decode()
    env.filters["num"] = _number
    env.filters["pct"] = _pct
    env.filters["counted"] = ch.counted
    env.filters["cell"] = _cell
    env.tests["text"] = lambda column: not pd.api.types.is_numeric_dtype(column)
    return env


def _cell(value: Any, column: str) -> str:
    """A table cell's text: shares in percent, other numbers grouped, blanks as a dash."""
    if _missing(value) or value is pd.NA:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real) and column in ("presc_id", "decile", "rank", "years_of_exp"):
        return str(int(value))
    if isinstance(value, numbers.Integral):
        return _number(value)
    if isinstance(value, numbers.Real):
        share = column.endswith("share") or column in ("penetration", "probability")
        if share or column.startswith("precision"):
            return _pct(value)
        if column in ("roc_auc", "pr_auc", "brier"):
            return _number(value, 3)
        two = column.endswith("index") or "per_1000" in column or column.endswith("lift")
        return _number(value, 2 if two else 1)
    return str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _number(value: Any, digits: int = 0) -> str:
    if _missing(value):
        return "n/a"
    return f"{float(value):,.{digits}f}"


def headline_figures(data: BriefData) -> list[dict[str, Any]]:
    """The headline figures: name, label, value (as stored), shown text."""
    summary = data.summary or {}
    run = data.run
    figures = []
    if summary:
        figures += [
            ("fills", "Market fills (30-day)", summary["fills"], _number(summary["fills"])),
            ("claims", "Known market claims", summary["claims"], _number(summary["claims"])),
            ("drug_cost", "Market drug cost (USD)", summary["drug_cost"],
             "$" + _number(summary["drug_cost"])),
            ("writers", "Writers", summary["writers"], _number(summary["writers"])),
            ("prescribers", "Prescribers in the delivery", summary["prescribers"],
             _number(summary["prescribers"])),
            ("claims_mapped_share", "Map coverage (known claims)",
             summary["claims_mapped_share"], _pct(summary["claims_mapped_share"])),
            ("claims_unknown_share", "Suppressed market lines",
             summary["claims_unknown_share"], _pct(summary["claims_unknown_share"])),
        ]  # fmt: skip
    figures += [
        ("rows_read", "Lines read", run.get("rows_read"), _number(run.get("rows_read"))),
        ("claims_matched_share", "Claims matched to a city", run.get("claims_matched_share"),
         _pct(run.get("claims_matched_share"))),
    ]  # fmt: skip
    return [{"name": n, "label": lb, "value": v, "text": t} for n, lb, v, t in figures]


def _pct(value: Any) -> str:
    return "n/a" if _missing(value) else f"{100 * float(value):.1f}%"


GEOGRAPHY_COLUMNS = ["opportunity_rank", "state_id", "city", "population", "fills", "writers",
                     "fills_per_1000", "fills_per_1000_shrunk", "index"]  # fmt: skip


def geography_rows(
    geography: pd.DataFrame, level: str, limit: int | None = None, min_writers: int = 0
) -> pd.DataFrame:
    """market_geography's rows of one level (state or city) with at least `min_writers` market
    writers, by opportunity rank (the rank over the whole level, kept as stored)."""
    rows = geography[(geography["level"] == level) & (geography["writers"] >= min_writers)]
    rows = rows.sort_values("opportunity_rank")
    columns = [c for c in GEOGRAPHY_COLUMNS if level == "city" or c != "city"]
    return (rows.head(limit) if limit else rows)[columns].reset_index(drop=True)


SEGMENT_COLUMNS = ["segment", "segment_name", "cities", "population", "population_share",
                   "demand_index", "market_writers", "market_fills_per_1000"]  # fmt: skip


def _segments_targets_cost(
    data: BriefData, charts: dict[str, ch.Chart], page_tables: dict[str, pd.DataFrame]
) -> dict[str, Any]:
    """The segments, targets and cost sections' charts and tables (added to `charts` and
    `page_tables`); returns the model's status, note and whether its charts are shown."""
    tables = data.tables
    if not tables["segment_profiles"].empty:
        page_tables["segment_profiles"] = tables["segment_profiles"].sort_values("segment")[
            SEGMENT_COLUMNS].reset_index(drop=True)
        charts["segments"] = ch.segments_chart(tables["city_segments"])
    evaluation = tables["model_evaluation"]
    status, note = model_status(evaluation)
    scored = status not in (None, "skipped") and not tables["target_prescribers"].empty
    if scored:
        page_tables["priority_targets"] = priority_targets(data)
        page_tables["model_metrics"] = model_metrics(evaluation)
        lift = lift_rows(evaluation)
        page_tables["model_lift"] = lift
        charts["model_lift"] = ch.lift_chart(lift)
        points = calibration_points(evaluation)
        if not points.empty:
            page_tables["model_calibration"] = points
            charts["model_calibration"] = ch.calibration_chart(points)
    else:
        page_tables["targets"] = top_targets(data)
    if not tables["state_cost"].empty:
        charts["state_cost"] = ch.state_cost_chart(tables["state_cost"])
        page_tables["state_cost"] = tables["state_cost"].sort_values("presc_state")[
            ["presc_state", "prescribers", "days", "drug_cost", "days_per_dollar",
             "price_index", "priced_prescribers"]].reset_index(drop=True)  # fmt: skip
    page_tables["peer_outliers"] = outlier_counts(tables["peer_outliers"])
    return {"status": status, "note": note, "scored": scored}


def with_segments(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """city_report's rows with each city's `segment` and `segment_name` from city_segments
    (null where the city has none, or the run no segmentation), matched on the dimension's
    state, name (city_report's in upper case) and coordinates: city_report has no city_id."""
    keys = ["state_id", "city", "lat", "lng"]
    segments = tables.get("city_segments")
    if segments is None or segments.empty:
        return tables["city_report"]
    named = segments.assign(city=segments["city"].str.upper())
    named = named[[*keys, "segment", "segment_name"]].drop_duplicates(keys)
    return tables["city_report"].merge(named, on=keys, how="left", validate="many_to_one")


def build_brief(data: BriefData) -> Brief:
    """The page of `data`, its charts and its tables."""
    tables = data.tables
    summary = data.summary
    charts: dict[str, ch.Chart] = {}
    page_tables: dict[str, pd.DataFrame] = {}
    figures = headline_figures(data)
    page_tables["headline"] = pd.DataFrame(figures)[["name", "label", "value"]]
    if summary is not None:
        products = tables["market_products"].sort_values(
            ["fills", "brand_name", "generic_name"], ascending=[False, True, True]
        )
        charts["products"] = ch.product_shares_chart(products)
        charts["concentration"] = ch.concentration_chart(
            tables["market_prescribers"]["fills"].tolist(), summary.get("hhi")
        )
        charts["deciles"] = ch.decile_chart(tables["market_deciles"])
        charts["specialties"] = ch.specialty_chart(tables["market_specialties"])
        page_tables["products"] = products[
            ["brand_name", "generic_name", "product_type", "fills", "fills_share", "claims",
             "drug_cost", "writers"]]  # fmt: skip
        page_tables["deciles"] = tables["market_deciles"].sort_values("decile", ascending=False)[
            ["decile", "prescribers", "fills", "fills_share", "cumulative_share", "median_fills"]]
        page_tables["specialties"] = tables["market_specialties"].sort_values("rank").head(15)[
            ["rank", "specialty", "writers", "prescribers", "penetration", "fills",
             "fills_share", "high_decile_writers"]]  # fmt: skip
    if summary is not None and not tables["market_geography"].empty:
        page_tables["states"] = geography_rows(tables["market_geography"], "state")
        page_tables["opportunity_cities"] = geography_rows(
            tables["market_geography"], "city", 10, ch.MIN_RANKED_WRITERS
        )
        charts["state_tiles"] = ch.state_tiles_chart(page_tables["states"])
    if not tables["city_report"].empty:
        charts["cities"] = ch.cities_chart(with_segments(tables))
        page_tables["top_cities"] = tables["city_report"].sort_values(
            "trx_counts", ascending=False).head(10)[
            ["city", "state_id", "population", "trx_counts", "presc_counts"]]  # fmt: skip
    model = None
    if summary is not None:
        model = _segments_targets_cost(data, charts, page_tables)
    counts = quarantine_counts(data.run)
    charts["data_quality"] = ch.quality_chart(counts)
    page_tables["data_quality"] = counts
    page_tables["unmatched_cities"] = tables["unmatched_cities"].sort_values("rank").head(10)[
        ["rank", "presc_city", "presc_state", "lines", "claims", "prescribers"]]
    if data.checks is not None:
        page_tables["quality_checks"] = pd.DataFrame(data.checks,
                                                     columns=["name", "passed", "detail"])
    html = _environment().get_template("launch_brief.html.j2").render(
        date=data.delivery_date.isoformat(),
        run=data.run,
        summary=summary,
        analysis_missing=analysis_missing_reason(data),
        figures=figures,
        charts=charts,
        tables=page_tables,
        checks=data.checks,
        has_experience=data.has_experience,
        experience_missing=EXPERIENCE_MISSING,
        source_credit=SOURCE_CREDIT,
        cities_credit=CITIES_CREDIT,
        failed_checks=sum(not c["passed"] for c in data.checks or []),
        model=model,
        min_writers=ch.MIN_RANKED_WRITERS,
    )
    return Brief(html, tuple(charts.values()), page_tables)
