"""Stages `files` and `persist`: the delivery written to report folders and the warehouse.

Each report folder is written beside its place (`files`) and moved in only once the warehouse
has committed the delivery (`persist`): a failed write or load leaves every earlier output as
it was."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from healthanalytics.config import Settings
from healthanalytics.contracts import TABLES
from healthanalytics.contracts.analysis import ANALYSIS_TABLES
from healthanalytics.engines import Engine
from healthanalytics.io.files import FileAccess, join_path
from healthanalytics.io.report_files import StagedFolder
from healthanalytics.io.warehouse import Warehouse, mask_url
from healthanalytics.stages.analysis import Analysis
from healthanalytics.stages.clean import Cleaned
from healthanalytics.stages.record import RunRecord
from healthanalytics.stages.reports import Reports
from healthanalytics.transforms.quarantine import quarantined_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedReports:
    """Report folders written and not yet visible: `publish` moves them in; leaving the
    `with` block removes what was not published."""

    folders: tuple[StagedFolder, ...]
    notes: tuple[str, ...]

    def publish(self) -> None:
        for folder in self.folders:
            folder.publish()

    def __enter__(self) -> StagedReports:
        return self

    def __exit__(self, *exc: object) -> None:
        for folder in self.folders:
            folder.discard()

    @property
    def outputs(self) -> dict[str, str]:
        return {folder.dest.rsplit("/", 1)[-1]: folder.dest for folder in self.folders}

    def summary(self) -> str:
        return "; ".join(self.notes)


def write_report_folders(
    settings: Settings, engine: Engine, outputs: FileAccess, reports: Reports
) -> StagedReports:
    """Both reports written by the engine, with their `delivery_date`, into staging folders
    beside `<output>/city_report` and `<output>/prescriber_report`, in the configured format,
    compression and number of part files."""
    folders: list[StagedFolder] = []
    notes = []
    try:
        for name, table, spec in (
            ("city_report", reports.city_report, settings.city_report),
            ("prescriber_report", reports.prescriber_report, settings.prescriber_report),
        ):
            folder = StagedFolder(join_path(settings.output, name), outputs)
            folders.append(folder)
            engine.write_report(TABLES[name].persisted(table, settings.run_date), folder.path, spec)
            notes.append(f"{name}: {spec.format}/{spec.compression or 'none'} x{spec.files}")
    except BaseException:
        for folder in folders:
            folder.discard()
        raise
    return StagedReports(tuple(folders), tuple(notes))


@dataclass(frozen=True)
class Persisted:
    """Where the delivery went."""

    warehouse: str

    def summary(self) -> str:
        return self.warehouse


def persist(
    settings: Settings,
    engine: Engine,
    warehouse: Warehouse,
    reports: Reports,
    cleaned: Cleaned,
    staged: StagedReports,
    record: RunRecord,
    analysis: Analysis | None = None,
) -> Persisted:
    """Replace the date's delivery in the warehouse (reports, quarantine, unmatched cities,
    the analysis tables) and record the run a success, in one transaction; then move the
    report folders in. Without analysis tables (skipped or failed) the date's analysis rows
    are removed: a delivery's tables always come from one run."""
    success = {"status": "success", "finished_at": dt.datetime.now(dt.UTC)}
    held = analysis.tables if analysis is not None else {}
    analysis_rows = {
        contract.name: engine.to_arrow(held[contract.name])
        if contract.name in held
        else contract.schema.empty_table()
        for contract in ANALYSIS_TABLES
    }
    warehouse.replace_delivery(
        settings.run_date,
        {
            "city_report": engine.to_arrow(reports.city_report),
            "prescriber_report": engine.to_arrow(reports.prescriber_report),
            "quarantine": engine.to_batches(quarantined_rows(cleaned.aside)),
            "unmatched_cities": reports.unmatched_rows,
            **analysis_rows,
        },
        # the run is recorded a success in the transaction that delivers its rows
        run={**record.row(), **success},
    )
    log.info("delivery %s committed", settings.run_date)
    staged.publish()
    return Persisted(f"{warehouse.kind} {mask_url(settings.warehouse_target)}")
