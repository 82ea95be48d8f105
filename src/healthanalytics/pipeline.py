"""The run: wires inputs, transforms, report files and the warehouse, stage by stage."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir

from healthanalytics.config import Settings
from healthanalytics.contracts import TABLES, RunParameters
from healthanalytics.engines import Engine, create_engine
from healthanalytics.io.files import join_path, uri_scheme
from healthanalytics.io.inputs import CsvDialect, bundled, open_cities, open_fact
from healthanalytics.io.integrity import InputCheck, checking_inputs
from healthanalytics.io.locks import lock_output_folder
from healthanalytics.io.quality_file import write_quality_checks
from healthanalytics.io.report_files import remove_stale_staging, staged_folder
from healthanalytics.io.warehouse import Warehouse, mask_url, open_warehouse
from healthanalytics.quality import CheckResult, require_passed, run_quality_checks
from healthanalytics.transforms.cities import (
    city_report,
    match_cities,
    match_summary,
    stage_cities,
    unmatched_places,
)
from healthanalytics.transforms.cleaning import cleaning_counts, prescriber_places
from healthanalytics.transforms.prescribers import (
    outside_states,
    prescribers_without_claims,
    top_prescribers_by_state,
)
from healthanalytics.transforms.quarantine import (
    flag_counts,
    kept_rows,
    possible_copies,
    quarantined_rows,
    repeated_drug_lines,
    set_aside,
    shared_drug_keys,
)
from healthanalytics.transforms.staging import REASONS, stage_prescriptions

log = logging.getLogger(__name__)

SAMPLE_FACT = "prescriber_fact_100k.csv.gz"
SAMPLE_CITIES = "us_cities_dimension.parquet"
UNMATCHED_CITIES_KEPT = 100  # rows of the unmatched_cities table; the log shows the first 10


class ReconciliationError(RuntimeError):
    """Rows in did not equal rows kept plus rows quarantined."""


class DeliveryShrinkError(RuntimeError):
    """The run would replace a date's delivery with nothing, or with far fewer rows."""


@dataclass
class RunResult:
    """What a run did: the pipeline_runs row plus where the outputs went."""

    record: dict[str, Any]
    outputs: dict[str, str] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)


StageListener = Callable[[str, str, float | None, str], None]
"""Called as (stage, "start" | "end", seconds, detail) so a front end can show progress."""


def _quiet(stage: str, event: str, seconds: float | None, detail: str) -> None:
    return None


class _Stages:
    """Times each stage and logs its start, end, duration, row counts and schemas."""

    def __init__(self, listener: StageListener, result: RunResult) -> None:
        self._listener = listener
        self._result = result

    @contextmanager
    def stage(self, name: str) -> Iterator[list[str]]:
        notes: list[str] = []
        log.info("stage %s: start", name)
        self._listener(name, "start", None, "")
        began = time.perf_counter()
        yield notes
        seconds = time.perf_counter() - began
        self._result.stage_seconds[name] = round(seconds, 3)
        detail = "; ".join(notes)
        log.info("stage %s: end after %.2f s%s", name, seconds, f" ({detail})" if detail else "")
        self._listener(name, "end", seconds, detail)


def _log_schema(name: str, table: ir.Table) -> None:
    columns = ", ".join(f"{column} {dtype}" for column, dtype in table.schema().items())
    log.info("schema %s: %s", name, columns)


def _store(engine: Engine, table: ir.Table, name: str) -> ir.Table:
    """The table computed and held by the engine, its time logged: the steps of a long stage."""
    began = time.perf_counter()
    stored = engine.materialize(table, name)
    log.info("table %s: computed in %.2f s", name, time.perf_counter() - began)
    return stored


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def run_pipeline(settings: Settings, listener: StageListener = _quiet) -> RunResult:
    """Run every stage for one delivery date; the run is recorded whether it succeeds or not.

    The run first takes its locks (the output folder, then the warehouse's delivery date),
    then marks earlier runs that died `abandoned` and removes what they left, then records
    itself as `running`; that row is updated with the outcome at the end."""
    started = dt.datetime.now(dt.UTC)
    record: dict[str, Any] = {
        "run_id": uuid.uuid4().hex,
        "run_date": settings.run_date,
        "engine": settings.engine,
        "started_at": started,
        "status": "running",
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    result = RunResult(record)
    stages = _Stages(listener, result)
    log.info(
        "run %s: date %s, engine %s, warehouse %s",
        record["run_id"],
        settings.run_date,
        settings.engine,
        mask_url(settings.warehouse_target),
    )
    local_output = uri_scheme(settings.output) is None
    warehouse: Warehouse | None = None
    inserted = False
    # closed in reverse: the warehouse (its delivery lock) first, the output folder last
    with ExitStack() as held:
        try:
            with stages.stage("connect") as notes:
                if local_output:
                    owner = {key: record[key] for key in ("run_id", "pid", "host", "started_at")}
                    held.enter_context(
                        lock_output_folder(settings.output, owner, settings.lock_timeout)
                    )
                warehouse = held.enter_context(
                    open_warehouse(settings.warehouse_target, settings.lock_timeout)
                )
                warehouse.lock_delivery(settings.run_date, settings.lock_timeout)
                notes.extend(_tidy_leftovers(warehouse, record["run_id"], settings, local_output))
                warehouse.record_run(record)
                inserted = True
            engine = create_engine(settings)
            try:
                with checking_inputs() as verify:
                    _run_stages(settings, engine, warehouse, stages, result, verify)
            finally:
                engine.close()
            record["status"] = "success"
        except BaseException as err:
            record["status"] = "failed"
            record["error"] = mask_url(f"{type(err).__name__}: {err}")[:2000]
            raise
        finally:
            record["finished_at"] = dt.datetime.now(dt.UTC)
            if warehouse is not None:
                try:
                    (warehouse.update_run if inserted else warehouse.record_run)(record)
                except Exception:  # a failed run must still surface its own error
                    log.exception("could not record the run in pipeline_runs")
            log.info("run %s: %s", record["run_id"], record["status"])
    return result


def _tidy_leftovers(
    warehouse: Warehouse, run_id: str, settings: Settings, local_output: bool
) -> list[str]:
    """Earlier runs that died marked `abandoned`, and the staging folders runs that died left
    in the output folder removed: the locks this run holds tell that their owners are gone."""
    notes = []
    abandoned = warehouse.abandon_dead_runs(run_id)
    for run in abandoned:
        log.warning(
            "run %s of %s (pid %s on host %s, started %s) stopped without finishing: "
            "marked abandoned",
            run["run_id"], run["run_date"], run["pid"], run["host"], run["started_at"],
        )  # fmt: skip
    if abandoned:
        notes.append(f"{len(abandoned)} stopped run(s) marked abandoned")
    if local_output:
        tidied = remove_stale_staging(settings.output)
        if tidied:
            notes.append(f"{len(tidied)} leftover(s) of stopped runs tidied")
    return notes


def _check_delivery_size(settings: Settings, warehouse: Warehouse, record: dict[str, Any]) -> None:
    """Refuse, before anything is written, a run that keeps no rows or fewer than
    `min_delivery_share` of the rows kept by the delivery of its date it would replace (the last
    successful run of that date), unless `allow_smaller_delivery`."""
    kept, read = record["rows_kept"], record["rows_read"]
    previous = warehouse.last_delivery(settings.run_date)
    what = "deliver it anyway"
    if kept == 0:
        problem = (
            f"keeps no rows ({read:,} read, {record['rows_quarantined']:,} quarantined), so the "
            f"delivery of {settings.run_date} would be empty"
        )
    elif previous and kept < settings.min_delivery_share * (previous["rows_kept"] or 0):
        problem = (
            f"keeps {kept:,} rows, fewer than min_delivery_share {settings.min_delivery_share:g} "
            f"of the {previous['rows_kept']:,} kept by the delivery of {settings.run_date} it "
            f"would replace (run {previous['run_id']})"
        )
        what = "replace it anyway"
    else:
        return
    if settings.allow_smaller_delivery:
        log.warning("%s: %s: delivered as allowed", record["fact_source"], problem)
        return
    raise DeliveryShrinkError(
        f"{record['fact_source']}: {problem}; nothing was changed: check the input, or pass "
        f"--allow-smaller-delivery to {what}"
    )


def _run_stages(
    settings: Settings,
    engine: Engine,
    warehouse: Warehouse,
    stages: _Stages,
    result: RunResult,
    verify: InputCheck,
) -> None:
    record = result.record
    fact_source = settings.fact or bundled(SAMPLE_FACT)
    city_source = settings.city or bundled(SAMPLE_CITIES)
    record["fact_source"] = fact_source
    # the engine says how its outputs are written, and refuses a folder it cannot write to
    # before any work is done
    outputs = engine.output_access(settings.output)

    with stages.stage("ingest") as notes:
        log.info("engine: %s", engine.describe())
        dialect = CsvDialect(settings.delimiter, settings.encoding)
        fact_access, city_access = engine.file_access(fact_source), engine.file_access(city_source)
        fact = open_fact(fact_source, fact_access, dialect)
        record["layout"] = fact.layout.name
        city_files, city_header = open_cities(city_source, city_access)
        # compressed inputs are decompressed to their end beside the engine's read
        verify.start(fact.files, fact_access)
        verify.start(city_files, city_access)
        raw = engine.read(fact.files, fact.header)
        cities = _store(engine, stage_cities(engine.read(city_files, city_header)), "cities")
        notes.append(
            f"fact {fact.files.format} ({fact.layout.name} layout, {len(fact.files.paths)} file(s))"
        )
        notes.append(f"{cities.count().execute():,} cities")
        _log_schema("fact_raw", raw)
        _log_schema("cities", cities)
        if not fact.layout.has_experience:
            log.warning("fact has no years-of-experience column: the experience filter is skipped")

    with stages.stage("clean") as notes:
        # The one pass over the input: every later step reads this table, not the file.
        staged = _store(engine, stage_prescriptions(raw, fact.layout), "staged")
        verify.wait()  # the inputs are read: refuse them now if one was cut short or corrupt
        shared = _store(engine, shared_drug_keys(staged), "shared_drug_keys")
        copies = _store(engine, possible_copies(staged, shared), "possible_copies")
        aside = _store(engine, set_aside(staged, copies), "set_aside")
        counts = engine.to_arrow(flag_counts(staged, aside)).to_pylist()[0]
        kept = kept_rows(staged, copies, aside)
        clean = _store(engine, prescriber_places(kept), "clean")
        cleaned = engine.to_arrow(cleaning_counts(clean)).to_pylist()[0]
        repeated = repeated_drug_lines(staged, shared, copies, aside)
        repeated = engine.to_arrow(repeated).to_pylist()[0]
        quarantined = sum(counts[reason] for reason in REASONS)
        record.update(
            rows_read=counts["rows_read"],
            rows_kept=counts["rows_kept"],
            rows_quarantined=quarantined,
            **{f"quarantined_{reason}": counts[reason] for reason in REASONS},
            npi_luhn_failures=cleaned["npi_luhn_failures"] or 0,
            trx_unimputed=cleaned["trx_unimputed"] or 0,
            repeated_drug_lines=repeated["repeated_drug_lines"],
        )
        rows_clean = cleaned["rows_clean"] or 0
        if (
            counts["rows_read"] != counts["rows_kept"] + quarantined
            or rows_clean != counts["rows_kept"]
        ):
            raise ReconciliationError(
                f"rows do not reconcile: read {counts['rows_read']}, kept {counts['rows_kept']} "
                f"(cleaned {rows_clean}), quarantined {quarantined}"
            )
        notes.append(
            f"{counts['rows_read']:,} read = {counts['rows_kept']:,} kept"
            f" + {quarantined:,} quarantined"
        )
        _log_schema("clean", clean)
        _check_delivery_size(settings, warehouse, record)

    with stages.stage("reports") as notes:
        matched = _store(engine, match_cities(clean, cities), "matched")
        city = _store(engine, city_report(matched, cities), "city_report")
        places = _store(engine, unmatched_places(matched), "unmatched_places")
        unmatched = places.filter(places["rank"] <= UNMATCHED_CITIES_KEPT).order_by("rank")
        years = (settings.min_years, settings.max_years) if fact.layout.has_experience else None
        prescribers = _store(
            engine, top_prescribers_by_state(clean, settings.top_n, years), "prescriber_report"
        )
        match = engine.to_arrow(match_summary(matched)).to_pylist()[0]
        outside = engine.to_arrow(outside_states(clean)).to_pylist()
        record.update(
            rows_matched_share=_share(match["rows_matched"], match["rows"]),
            claims_matched_share=_share(match["claims_matched"] or 0, match["claims"] or 0),
            city_report_rows=int(city.count().execute()),
            prescriber_report_rows=int(prescribers.count().execute()),
            prescribers_outside_states=sum(row["prescribers"] for row in outside),
            lines_outside_states=sum(row["lines"] for row in outside),
            prescribers_without_claims=int(prescribers_without_claims(clean).execute()),
            unmatched_places=int(places.count().execute()),
        )
        unmatched_rows = engine.to_arrow(unmatched)
        _log_unmatched_places(unmatched_rows.to_pylist(), record["unmatched_places"])
        _log_unranked(outside, record)
        notes.append(
            f"{record['city_report_rows']:,} cities, "
            f"{record['prescriber_report_rows']:,} prescribers; "
            f"matched to a city: {_percent(record['rows_matched_share'])} of rows, "
            f"{_percent(record['claims_matched_share'])} of claims"
        )
        _log_schema("city_report", city)
        _log_schema("prescriber_report", prescribers)

    with stages.stage("quality") as notes:
        result.checks = run_quality_checks(
            {
                "city_report": city,
                "prescriber_report": prescribers,
                "quarantine": quarantined_rows(aside),
                "unmatched_cities": unmatched,
            },
            RunParameters(top_n=settings.top_n),
        )
        failed = [check for check in result.checks if not check.passed]
        result.outputs["quality_checks"] = write_quality_checks(
            result.checks, join_path(settings.output, "quality_checks.json"), outputs
        )
        notes.append(f"{len(result.checks) - len(failed)}/{len(result.checks)} checks passed")
        require_passed(result.checks)

    # Each report folder is written beside its place and moved in only once the database has
    # its rows too: a failed write or load leaves every earlier output as it was.
    with ExitStack() as pending:
        with stages.stage("files") as notes:
            for name, table, spec in (
                ("city_report", city, settings.city_report),
                ("prescriber_report", prescribers, settings.prescriber_report),
            ):
                dest = join_path(settings.output, name)
                staging = pending.enter_context(staged_folder(dest, outputs))
                engine.write_report(TABLES[name].persisted(table, settings.run_date), staging, spec)
                result.outputs[name] = dest
                notes.append(f"{name}: {spec.format}/{spec.compression or 'none'} x{spec.files}")

        with stages.stage("persist") as notes:
            warehouse.replace_delivery(
                settings.run_date,
                {
                    "city_report": engine.to_arrow(city),
                    "prescriber_report": engine.to_arrow(prescribers),
                    "quarantine": engine.to_batches(quarantined_rows(aside)),
                    "unmatched_cities": unmatched_rows,
                },
                # the run is recorded a success in the transaction that delivers its rows
                run={**record, "status": "success", "finished_at": dt.datetime.now(dt.UTC)},
            )
            log.info("delivery %s committed", settings.run_date)
            pending.close()  # the report folders move in, timed with this stage
            notes.append(f"{warehouse.kind} {mask_url(settings.warehouse_target)}")


def _log_unmatched_places(top: list[dict[str, Any]], places: int) -> None:
    """One line: how many places match no city, and the first ten by lines."""
    shown = "; ".join(
        f"{row['presc_city'] or '(blank)'}, {row['presc_state'] or '(blank)'}: "
        f"{row['lines']:,} lines, {row['claims']:,} claims, {row['prescribers']:,} prescribers"
        for row in top[:10]
    )
    log.info(
        "unmatched places: %s (city, state) pairs match no dimension city%s",
        f"{places:,}",
        f"; most lines first (table unmatched_cities): {shown}" if shown else "",
    )


def _log_unranked(outside: list[dict[str, Any]], record: dict[str, Any]) -> None:
    """What the prescriber report leaves out: codes that are no US state, unknown claims."""
    if record["lines_outside_states"]:
        codes = ", ".join(
            f"{row['presc_state']} {row['prescribers']:,} prescribers/{row['lines']:,} lines"
            for row in outside[:5]
        )
        more = f" and {len(outside) - 5} more codes" if len(outside) > 5 else ""
        log.warning(
            "prescriber report: %s prescribers not ranked, their state code being no US state "
            "or territory (%s kept lines give such a code): %s%s",
            f"{record['prescribers_outside_states']:,}",
            f"{record['lines_outside_states']:,}",
            codes,
            more,
        )
    if record["prescribers_without_claims"]:
        log.warning(
            "prescriber report: %s prescribers not ranked, none of their claim counts being "
            "known (all hidden)",
            f"{record['prescribers_without_claims']:,}",
        )


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"
