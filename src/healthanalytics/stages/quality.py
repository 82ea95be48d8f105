"""Stage `quality`: the data-quality checks on the reports, written to quality_checks.json."""

from __future__ import annotations

from dataclasses import dataclass

from healthanalytics.config import Settings
from healthanalytics.contracts import RunParameters
from healthanalytics.engines import Engine
from healthanalytics.io.files import FileAccess, join_path
from healthanalytics.io.quality_file import write_quality_checks
from healthanalytics.quality import CheckResult, require_passed, run_quality_checks
from healthanalytics.stages.clean import Cleaned
from healthanalytics.stages.reports import Reports
from healthanalytics.transforms.quarantine import quarantined_rows


@dataclass(frozen=True)
class Checked:
    """The checks run and where their results were written."""

    checks: tuple[CheckResult, ...]
    path: str

    def summary(self) -> str:
        passed = sum(check.passed for check in self.checks)
        return f"{passed}/{len(self.checks)} checks passed"


def check_quality(
    settings: Settings, engine: Engine, outputs: FileAccess, cleaned: Cleaned, reports: Reports
) -> Checked:
    """Run every data test the contracts declare for the delivery's tables, write all results
    to `<output>/quality_checks.json`, then raise QualityCheckError naming each failed check,
    if any failed."""
    tables = {
        "city_report": reports.city_report,
        "prescriber_report": reports.prescriber_report,
        "quarantine": quarantined_rows(cleaned.aside),
        "unmatched_cities": reports.unmatched_cities,
    }
    checks = tuple(run_quality_checks(tables, RunParameters(top_n=settings.top_n), engine))
    path = write_quality_checks(checks, join_path(settings.output, "quality_checks.json"), outputs)
    require_passed(checks)
    return Checked(checks, path)
