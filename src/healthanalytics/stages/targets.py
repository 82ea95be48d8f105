"""The lookalike model's part of the analysis stage: its features computed by the engine,
the model fitted on the driver over them, its tables handed back to the engine."""

from __future__ import annotations

import logging
import time

import ibis
import ibis.expr.types as ir

from healthanalytics.analysis.targets.features import model_inputs, prescriber_features
from healthanalytics.analysis.targets.model import score_prescribers, skipped_targets
from healthanalytics.engines import Engine
from healthanalytics.errors import error_line
from healthanalytics.stages.reports import Reports
from healthanalytics.stages.timing import store

log = logging.getLogger(__name__)


def target_tables(
    engine: Engine,
    drugs: ir.Table,
    places: ir.Table,
    reports: Reports,
    keys: ir.Table,
    prescribers: ir.Table,
    city_segments: ir.Table | None = None,
) -> dict[str, ir.Table]:
    """`target_prescribers`, `model_evaluation` and `model_importance` as the engine holds
    them, from the kept lines per prescriber and drug (`drugs_per_prescriber`) and as
    prescriber places (`clean_prescriptions`), `generic_keys`, `market_prescribers` and
    (optional) the city segments (`city_id`, `segment_name`). A degenerate input, or an error
    of the model, gives a skip row in model_evaluation (logged as a warning) and no scored
    prescribers: the market tables are delivered all the same."""
    features = store(
        engine, prescriber_features, drugs, keys, places, prescribers,
        reports.matched, city_segments,
    )  # fmt: skip
    began = time.perf_counter()
    inputs = engine.to_arrow(model_inputs(features, drugs, prescribers))
    try:
        targets = score_prescribers(inputs)
    except Exception as err:  # the model's failure costs the market tables nothing
        log.debug("lookalike model failure", exc_info=True)
        error = error_line(err)[:500]
        targets = skipped_targets(inputs, f"the model failed: {error}")
    (log.info if targets.skipped is None else log.warning)(
        "%s (%.2f s)", targets.summary(), time.perf_counter() - began
    )
    held = {
        "target_prescribers": targets.prescribers,
        "model_evaluation": targets.evaluation,
        "model_importance": targets.importance,
    }
    return {name: engine.materialize(ibis.memtable(rows), name) for name, rows in held.items()}
