"""Stage `analysis`: the launch market's prescribers, deciles, products, specialties,
geography and summary, and the prescribers' cost position and peer outliers.

It never costs the delivery its reports: when it fails, the error is logged as a warning and
recorded (`analysis_error` in pipeline_runs), and the run goes on to deliver the reports
without analysis tables (the date's earlier analysis rows are removed with the rest of its
delivery)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir

from healthanalytics.analysis.concentration import market_products, market_summary
from healthanalytics.analysis.cost import prescriber_cost, state_cost
from healthanalytics.analysis.coverage import map_coverage, unmapped_generics
from healthanalytics.analysis.deciles import (
    generic_keys,
    market_deciles,
    market_lines,
    market_prescribers,
)
from healthanalytics.analysis.drug_classes import bundled_drug_classes
from healthanalytics.analysis.geography import market_geography
from healthanalytics.analysis.outliers import peer_outliers
from healthanalytics.analysis.specialties import market_specialties
from healthanalytics.config import Settings
from healthanalytics.engines import Engine
from healthanalytics.errors import error_line
from healthanalytics.stages.clean import Cleaned
from healthanalytics.stages.reports import Reports
from healthanalytics.stages.segments import segment_tables
from healthanalytics.stages.targets import target_tables
from healthanalytics.stages.timing import store
from healthanalytics.transforms.cleaning import drugs_per_prescriber

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Analysis:
    """The analysis tables as the engine holds them (table name -> table; empty when skipped
    or failed), the market's one-row summary as fetched, and why it failed, if it did."""

    tables: dict[str, ir.Table] = field(default_factory=dict)
    summary_row: dict[str, Any] | None = None
    error: str | None = None
    skipped: bool = False

    def summary(self) -> str:
        if self.skipped:
            return "skipped (--no-analysis)"
        if self.error is not None:
            return f"failed, reports delivered without it: {self.error}"
        row = self.summary_row or {}
        return (
            f"market {row.get('market')}: {row.get('writers', 0):,} writers of "
            f"{row.get('prescribers', 0):,} prescribers, {row.get('fills') or 0:,.0f} fills, "
            f"{row.get('products', 0)} products, HHI {_number(row.get('hhi'))}"
        )

    def failed(self, error: str) -> Analysis:
        """This analysis dropped: no tables, and why."""
        return Analysis(error=error)


def analyze(settings: Settings, engine: Engine, cleaned: Cleaned, reports: Reports) -> Analysis:
    """The market tables of `settings.market` over the kept lines (and, for the geography, the
    lines' matched cities and the city dimension the reports hold), or, with `analysis` off, an
    Analysis marked skipped. An Exception is caught and returned as the analysis' `error`
    (logged as a warning); an interruption (Ctrl-C, SIGTERM) still ends the run."""
    if not settings.analysis:
        return Analysis(skipped=True)
    try:
        return _market_tables(settings, engine, cleaned, reports)
    except Exception as err:
        error = error_line(err)[:2000]
        log.warning("analysis failed; the reports are delivered without it: %s", error)
        log.debug("analysis failure", exc_info=True)
        return Analysis(error=error)


def _market_tables(
    settings: Settings, engine: Engine, cleaned: Cleaned, reports: Reports
) -> Analysis:
    basket = settings.market.basket()
    map_keys = sorted({row.ingredient_key for row in bundled_drug_classes()})
    # only a run with the analysis aggregates the kept lines per prescriber and drug
    drugs = store(engine, drugs_per_prescriber, cleaned.kept)
    keys = store(engine, generic_keys, drugs, map_keys, basket.ingredient_keys)
    coverage = map_coverage(keys)
    _log_coverage(engine.one_row(coverage), engine.to_arrow(unmapped_generics(keys, 5)))
    lines = store(engine, market_lines, drugs, keys)
    prescribers = store(engine, market_prescribers, drugs, cleaned.clean, lines)
    cost = store(engine, prescriber_cost, drugs, prescribers)
    states_cost = store(engine, state_cost, cost)
    outliers = store(engine, peer_outliers, prescribers, cost)
    deciles = store(engine, market_deciles, prescribers)
    products = store(engine, market_products, lines, keys)
    specialties = store(engine, market_specialties, prescribers)
    geography = store(engine, market_geography, prescribers, reports.matched, reports.cities)
    segments = segment_tables(
        engine, drugs, keys, reports.matched, reports.cities, prescribers
    )
    summary = store(engine, market_summary, basket, prescribers, products, coverage)
    tables = {
        "market_prescribers": prescribers,
        "market_deciles": deciles,
        "market_products": products,
        "market_specialties": specialties,
        "market_geography": geography,
        **segments,
        "market_summary": summary,
        "prescriber_cost": cost,
        "state_cost": states_cost,
        "peer_outliers": outliers,
    }
    # the model takes each prescriber's city segment (computed without the market's lines)
    tables |= target_tables(
        engine, drugs, cleaned.clean, reports, keys, prescribers, tables.get("city_segments")
    )
    return Analysis(tables, engine.one_row(summary))


def _log_coverage(coverage: dict[str, Any], unmapped: Any) -> None:
    """One line: the share of claims the drug-class map covers, and the most-claimed generic
    names it does not."""
    shown = "; ".join(
        f"{row['generic_name'] or '(blank)'}: {row['claims']:,} claims"
        for row in unmapped.to_pylist()
    )
    log.info(
        "drug-class map covers %s of known claims%s",
        "n/a"
        if coverage["claims_mapped_share"] is None
        else f"{coverage['claims_mapped_share']:.1%}",
        f"; most-claimed unmapped generic names: {shown}" if shown else "",
    )


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"
