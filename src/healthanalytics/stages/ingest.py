"""Stage `ingest`: find the inputs, check their headers and layout, and stage the cities."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import ibis.expr.types as ir

from healthanalytics.config import Settings
from healthanalytics.engines import Engine
from healthanalytics.io.inputs import CsvDialect, FactInput, open_cities, open_fact
from healthanalytics.io.integrity import InputCheck
from healthanalytics.stages.timing import store
from healthanalytics.transforms.cities import stage_cities

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingested:
    """The fact input's lines as read (every column text, or typed for Parquet) and the
    staged city dimension (one row per city, `city_id` its key)."""

    fact: FactInput
    raw: ir.Table
    cities: ir.Table
    city_count: int

    def summary(self) -> str:
        files = self.fact.files
        return (
            f"fact {files.format} ({self.fact.layout.name} layout, {len(files.paths)} file(s)); "
            f"{self.city_count:,} cities"
        )


def ingest(settings: Settings, engine: Engine, verify: InputCheck) -> Ingested:
    """The inputs of `settings`, opened through the engine. Compressed inputs are decompressed
    to their end beside the engine's read (`verify`; the clean stage waits for it).

    Raises InputError naming the file and what to do when an input cannot be used."""
    log.info("engine: %s", engine.describe())
    dialect = CsvDialect(settings.delimiter, settings.encoding)
    fact_access = engine.file_access(settings.fact_source)
    city_access = engine.file_access(settings.city_source)
    fact = open_fact(settings.fact_source, fact_access, dialect)
    city_files, city_header = open_cities(settings.city_source, city_access)
    verify.start(fact.files, fact_access, len(fact.header))
    verify.start(city_files, city_access, len(city_header))
    raw = engine.read(fact.files, fact.header)
    log.info("schema fact: %s", ", ".join(f"{c} {t}" for c, t in raw.schema().items()))
    cities = store(engine, stage_cities, engine.read(city_files, city_header))
    if not fact.layout.has_experience:
        log.warning("fact has no years-of-experience column: the experience filter is skipped")
    return Ingested(fact, raw, cities, engine.count_rows(cities))
