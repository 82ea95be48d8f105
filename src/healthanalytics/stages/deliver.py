"""Stages `files`, `persist` and `publish`: the delivery written to report folders and the
warehouse, then made visible.

Each report folder is written where the run's output place says (`files`: beside its place in
a local folder, inside the run's own prefix on S3, io/publish.py); the warehouse commits the
delivery (`persist`); the launch brief is written from it (stages/brief.py); only then are the
outputs made visible (`publish`: the report folders moved in locally; on S3 the manifest,
listing the brief too, and the pointer switch). A failed write or load leaves every earlier
output as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from healthanalytics.config import Settings
from healthanalytics.contracts import TABLES
from healthanalytics.contracts.analysis import ANALYSIS_TABLES
from healthanalytics.engines import Engine
from healthanalytics.io.publish import OutputPlace, ReportPlace
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

    folders: tuple[ReportPlace, ...]
    notes: tuple[str, ...]
    place: OutputPlace
    rows: dict[str, int]

    def check_current(self) -> None:
        """Raise when the outputs can no longer be published (another run published the
        date on S3 since this run started), before the warehouse commits."""
        self.place.check_current()

    def publish(self, brief: str = "") -> None:
        """Make the outputs visible; `brief` says what became of the launch brief."""
        for folder in self.folders:
            folder.publish()
        self.place.publish(self.rows, brief)

    def __enter__(self) -> StagedReports:
        return self

    def __exit__(self, *exc: object) -> None:
        for folder in self.folders:
            folder.discard()

    @property
    def outputs(self) -> dict[str, str]:
        return self.place.outputs([folder.dest.rsplit("/", 1)[-1] for folder in self.folders])

    def summary(self) -> str:
        return "; ".join(self.notes)


def write_report_folders(
    settings: Settings, engine: Engine, place: OutputPlace, reports: Reports
) -> StagedReports:
    """Both reports written by the engine, with their `delivery_date`, into the folders
    `place` gives for `city_report` and `prescriber_report` (staging folders beside them
    locally, the run's prefix on S3), in the configured format, compression and number of
    part files."""
    folders: list[ReportPlace] = []
    notes = []
    try:
        for name, table, spec in (
            ("city_report", reports.city_report, settings.city_report),
            ("prescriber_report", reports.prescriber_report, settings.prescriber_report),
        ):
            folder = place.report_folder(name)
            folders.append(folder)
            engine.write_report(TABLES[name].persisted(table, settings.run_date), folder.path, spec)
            notes.append(f"{name}: {spec.format}/{spec.compression or 'none'} x{spec.files}")
    except BaseException:
        for folder in folders:
            folder.discard()
        raise
    rows = {
        "city_report": reports.counts.city_report_rows,
        "prescriber_report": reports.counts.prescriber_report_rows,
    }
    return StagedReports(tuple(folders), tuple(notes), place, rows)


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
    the analysis tables) and record the run a success, in one transaction; the outputs are
    made visible afterwards (`publish_delivery`, after the brief). Without analysis tables
    (skipped or failed) the date's analysis rows are removed: a delivery's tables always come
    from one run. On S3 the pointer is checked first and again inside the transaction just before
    its commit (StalePublishError, nothing committed, when another run published the date since
    this run started)."""
    staged.check_current()
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
        # asked again last in the transaction: a run that lost the race leaves no rows behind
        before_commit=staged.check_current,
    )
    log.info("delivery %s committed", settings.run_date)
    return Persisted(f"{warehouse.kind} {mask_url(settings.warehouse_target)}")


@dataclass(frozen=True)
class Published:
    """What became visible: the report folders, and the launch brief or why there is none."""

    note: str

    def summary(self) -> str:
        return self.note


def publish_delivery(staged: StagedReports, brief_note: str) -> Published:
    """The committed delivery made visible: the report folders moved in (locally), or the
    run's manifest written and the date's pointer switched to it (S3; StalePublishError when
    another run published the date meanwhile). `brief_note` (`written`, or `not written: why`)
    goes into the S3 manifest as `launch_brief`."""
    staged.publish(brief_note)
    return Published(f"{', '.join(staged.rows)}; launch brief {brief_note}")
