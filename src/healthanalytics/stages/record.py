"""The run's record: one row of `pipeline_runs`, filled in as the stages finish."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from healthanalytics.config import Settings
from healthanalytics.io.warehouse import Warehouse, mask_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleaningCounts:
    """What the clean stage counted, in lines of the fact input (see docs/RULES.md, Cleaning)."""

    rows_read: int
    rows_kept: int
    rows_quarantined: int
    quarantined_invalid_npi: int
    quarantined_missing_drug: int
    quarantined_invalid_number: int
    quarantined_duplicate_row: int
    npi_luhn_failures: int  # kept lines whose NPI fails the Luhn check
    trx_unimputed: int  # kept lines whose claim count stayed unknown
    repeated_drug_lines: int  # kept lines sharing NPI and drug with another kept line


@dataclass(frozen=True)
class ReportCounts:
    """What the reports stage counted: shares are 0..1 (None when nothing to divide)."""

    rows_matched_share: float | None
    claims_matched_share: float | None
    city_report_rows: int
    prescriber_report_rows: int
    prescribers_outside_states: int
    lines_outside_states: int
    prescribers_without_claims: int
    unmatched_places: int


@dataclass(frozen=True)
class RunRecord:
    """One `pipeline_runs` row (its columns, in any order; see `healthanalytics tables`)."""

    run_id: str
    run_date: dt.date
    engine: str
    started_at: dt.datetime
    host: str
    pid: int
    fact_source: str
    status: str = "running"  # then success, failed, or (set by a later run) abandoned
    finished_at: dt.datetime | None = None
    error: str | None = None
    layout: str | None = None
    rows_read: int | None = None
    rows_kept: int | None = None
    rows_quarantined: int | None = None
    quarantined_invalid_npi: int | None = None
    quarantined_missing_drug: int | None = None
    quarantined_invalid_number: int | None = None
    quarantined_duplicate_row: int | None = None
    npi_luhn_failures: int | None = None
    trx_unimputed: int | None = None
    repeated_drug_lines: int | None = None
    rows_matched_share: float | None = None
    claims_matched_share: float | None = None
    city_report_rows: int | None = None
    prescriber_report_rows: int | None = None
    prescribers_outside_states: int | None = None
    lines_outside_states: int | None = None
    prescribers_without_claims: int | None = None
    unmatched_places: int | None = None
    analysis_error: str | None = None

    @classmethod
    def start(cls, settings: Settings) -> RunRecord:
        """A new run of `settings`, `running` from now, by this process."""
        return cls(
            run_id=uuid.uuid4().hex,
            run_date=settings.run_date,
            engine=settings.engine,
            started_at=dt.datetime.now(dt.UTC),
            host=socket.gethostname(),
            pid=os.getpid(),
            fact_source=settings.fact_source,
        )

    def counted(self, counts: CleaningCounts | ReportCounts) -> RunRecord:
        """This record with a stage's counts filled in."""
        return replace(self, **asdict(counts))

    def row(self) -> dict[str, Any]:
        """The record as a `pipeline_runs` row."""
        return asdict(self)


RUN_COLUMNS = tuple(f.name for f in fields(RunRecord))


class RunTracker:
    """Holds the run's current record and writes it to `pipeline_runs`: as `running` once the
    run holds its locks (`begin`), and with its outcome when the run ends, however it ends
    (once a warehouse is attached)."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self._warehouse: Warehouse | None = None
        self._inserted = False

    def update(self, **values: Any) -> None:
        self.record = replace(self.record, **values)

    def count(self, counts: CleaningCounts | ReportCounts) -> None:
        self.record = self.record.counted(counts)

    def attach(self, warehouse: Warehouse) -> None:
        """The warehouse the run's outcome is written to, even if the run fails before `begin`."""
        self._warehouse = warehouse

    def begin(self) -> None:
        """Record the run as `running` in the attached warehouse."""
        assert self._warehouse is not None, "attach a warehouse first"
        self._warehouse.record_run(self.record.row())
        self._inserted = True

    @contextmanager
    def tracked(self) -> Iterator[None]:
        """The run's outcome recorded when the block ends: `success`, or `failed` with the
        error (URL passwords masked, at most 2,000 characters), which is raised again."""
        try:
            yield
            self.update(status="success")
        except BaseException as err:
            self.update(status="failed", error=mask_url(f"{type(err).__name__}: {err}")[:2000])
            raise
        finally:
            self.update(finished_at=dt.datetime.now(dt.UTC))
            if self._warehouse is not None:
                write = self._warehouse.update_run if self._inserted else self._warehouse.record_run
                try:
                    write(self.record.row())
                except Exception:  # a failed run must still surface its own error
                    log.exception("could not record the run in pipeline_runs")
            log.info("run %s: %s", self.record.run_id, self.record.status)
