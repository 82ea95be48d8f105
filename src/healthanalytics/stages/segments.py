"""The city segmentation within the analysis stage: the features computed by the engine, the
k-means on the driver over the compact city table, the results handed back to the engine
(analysis/segments.py has the rules)."""

from __future__ import annotations

import logging
import time

import ibis
import ibis.expr.types as ir

from healthanalytics.analysis.segments import (
    city_features,
    log_line,
    segment_cities,
    segment_profiles,
)
from healthanalytics.engines import Engine
from healthanalytics.stages.timing import store

log = logging.getLogger(__name__)


def segment_tables(
    engine: Engine,
    drugs: ir.Table,
    keys: ir.Table,
    matched: ir.Table,
    cities: ir.Table,
    prescribers: ir.Table,
) -> dict[str, ir.Table]:
    """`city_segments`, `segment_profiles` and `segment_selection` as the engine holds them.

    In: the kept lines per prescriber and drug, `generic_keys`, the lines matched to cities,
    the city dimension and `market_prescribers`."""
    features = store(engine, city_features, drugs, keys, matched, cities, prescribers)
    began = time.perf_counter()
    model = segment_cities(engine.to_arrow(features))
    seconds = time.perf_counter() - began
    log.info("city segments (k-means, %.2f s): %s", seconds, log_line(model.selection))
    segmented = engine.materialize(ibis.memtable(model.cities), "city_segments")
    selection = engine.materialize(ibis.memtable(model.selection), "segment_selection")
    segments = ibis.memtable(model.segments)
    profiles = store(engine, segment_profiles, segments, segmented, prescribers, matched)
    return {
        "city_segments": segmented,
        "segment_profiles": profiles,
        "segment_selection": selection,
    }
