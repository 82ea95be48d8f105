"""Stage `quality`: the data-quality checks on the reports, written to quality_checks.json."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from healthanalytics.config import Settings
from healthanalytics.contracts import RunParameters
from healthanalytics.engines import Engine
from healthanalytics.io.files import FileAccess, join_path
from healthanalytics.io.quality_file import write_quality_checks
from healthanalytics.quality import (
    CheckResult,
    QualityCheckError,
    require_passed,
    run_quality_checks,
)
from healthanalytics.stages.analysis import Analysis
from healthanalytics.stages.clean import Cleaned
from healthanalytics.stages.reports import Reports
from healthanalytics.transforms.quarantine import quarantined_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checked:
    """The checks run and where their results were written; `analysis_error` names the
    analysis tables' failed checks (the analysis is then dropped, not the delivery)."""

    checks: tuple[CheckResult, ...]
    path: str
    analysis_error: str | None = None

    def summary(self) -> str:
        passed = sum(check.passed for check in self.checks)
        dropped = "; the analysis dropped" if self.analysis_error else ""
        return f"{passed}/{len(self.checks)} checks passed{dropped}"


def check_quality(
    settings: Settings,
    engine: Engine,
    outputs: FileAccess,
    cleaned: Cleaned,
    reports: Reports,
    analysis: Analysis | None = None,
    folder: str | None = None,
) -> Checked:
    """Run every data test the contracts declare for the delivery's tables (the analysis'
    too, when it ran), write all results to `<folder>/quality_checks.json` (the run's output
    folder: `<output>` locally, the run's own prefix on S3), then raise
    QualityCheckError naming each failed check of the reports' tables, if any failed. A failed
    check of an analysis table raises nothing: it is returned as `analysis_error`."""
    tables = {
        "city_report": reports.city_report,
        "prescriber_report": reports.prescriber_report,
        "quarantine": quarantined_rows(cleaned.aside),
        "unmatched_cities": reports.unmatched_cities,
    }
    params = RunParameters(top_n=settings.top_n)
    checks = tuple(run_quality_checks(tables, params, engine))
    analysis_tables = analysis.tables if analysis is not None else {}
    analysis_checks = tuple(run_quality_checks(analysis_tables, params, engine))
    where = join_path(folder or settings.output, "quality_checks.json")
    path = write_quality_checks(checks + analysis_checks, where, outputs)
    require_passed(checks)
    try:
        require_passed(analysis_checks)
    except QualityCheckError as err:
        log.warning("analysis dropped, the reports are delivered without it: %s", err)
        return Checked(checks + analysis_checks, path, f"QualityCheckError: {err}"[:2000])
    return Checked(checks + analysis_checks, path)
