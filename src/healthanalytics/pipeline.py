"""The run: one straight line of named stages (each in `healthanalytics.stages`).

A new stage goes here, between the ones whose results it reads; its function takes what it
needs and returns a typed result with a `summary()` for the log and the progress display."""

from __future__ import annotations

import logging
from contextlib import ExitStack, closing
from dataclasses import dataclass, field

from healthanalytics.config import Settings
from healthanalytics.engines import create_engine
from healthanalytics.io.integrity import checking_inputs
from healthanalytics.io.publish import open_output
from healthanalytics.io.warehouse import mask_url
from healthanalytics.quality import CheckResult
from healthanalytics.stages.analysis import analyze
from healthanalytics.stages.brief import write_launch_brief
from healthanalytics.stages.clean import clean, refuse_smaller_delivery
from healthanalytics.stages.connect import connect
from healthanalytics.stages.deliver import persist, publish_delivery, write_report_folders
from healthanalytics.stages.ingest import ingest
from healthanalytics.stages.quality import check_quality
from healthanalytics.stages.record import RunRecord, RunTracker
from healthanalytics.stages.reports import build_reports
from healthanalytics.stages.timing import StageListener, StageTimer, quiet

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a run did: its pipeline_runs record, where the outputs went, the quality checks
    and each stage's seconds."""

    record: RunRecord
    outputs: dict[str, str] = field(default_factory=dict)
    checks: tuple[CheckResult, ...] = ()
    stage_seconds: dict[str, float] = field(default_factory=dict)


def run_pipeline(settings: Settings, listener: StageListener = quiet) -> RunResult:
    """Run every stage for one delivery date; the run is recorded whether it succeeds or not.

    The run first takes its locks (the output folder, then the warehouse's delivery date),
    marks earlier runs that died `abandoned`, removes what they left, and records itself as
    `running`; that row is updated with the outcome at the end. Raises what stopped the run."""
    run = RunTracker(RunRecord.start(settings))
    timer = StageTimer(listener)
    log.info("run %s: date %s, engine %s, warehouse %s", run.record.run_id, settings.run_date,
             settings.engine, mask_url(settings.warehouse_target))  # fmt: skip
    # closed in reverse: the run's outcome recorded, the warehouse (its lock), the folder lock
    with ExitStack() as held, run.tracked():
        warehouse = timer.run("connect", connect, settings, run, held).warehouse
        with closing(create_engine(settings)) as engine, checking_inputs() as verify:
            # the engine refuses a folder it cannot write to before any work is done
            outputs = engine.output_access(settings.output)
            # where this run writes; on S3 the delivery's pointer is read now (io/publish.py)
            place = open_output(settings.output, outputs, settings.run_date,
                                run.record.run_id, settings.keep_runs)  # fmt: skip
            ingested = timer.run("ingest", ingest, settings, engine, verify)
            run.update(layout=ingested.fact.layout.name)
            cleaned = timer.run("clean", clean, engine, ingested, verify)
            run.count(cleaned.counts)
            refuse_smaller_delivery(settings, warehouse, run.record)
            reports = timer.run("reports", build_reports, settings, engine, ingested, cleaned)
            run.count(reports.counts)
            # a failed analysis is recorded and the reports delivered without it
            analysis = timer.run("analysis", analyze, settings, engine, cleaned, reports)
            checked = timer.run("quality", check_quality, settings, engine, outputs, cleaned,
                                reports, analysis, place.folder)  # fmt: skip
            if checked.analysis_error:  # its tables failed their checks: dropped likewise
                analysis = analysis.failed(checked.analysis_error)
            run.update(analysis_error=analysis.error)
            staged = timer.run("files", write_report_folders, settings, engine, place, reports)
            with staged:  # what publish did not make visible is removed
                timer.run("persist", persist, settings, engine, warehouse, reports, cleaned,
                          staged, run.record, analysis)  # fmt: skip
                # read from the committed delivery and published with it (on S3, listed in the
                # manifest); a brief that fails is a warning, not the run's
                briefed = timer.run("brief", write_launch_brief, settings, warehouse, analysis,
                                    checked.checks, place)  # fmt: skip
                timer.run("publish", publish_delivery, staged, briefed.note)
    brief = {"launch_brief": briefed.path} if briefed.path else {}
    return RunResult(
        run.record,
        {"quality_checks": checked.path, **staged.outputs, **brief},
        checked.checks,
        timer.seconds,
    )
