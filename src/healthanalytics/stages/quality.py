"""Stage `quality`: the data-quality checks on the reports, written to quality_checks.json."""

from __future__ import annotations

from dataclasses import dataclass

from healthanalytics.config import Settings
from healthanalytics.io.files import FileAccess, join_path
from healthanalytics.io.quality_file import write_quality_checks
from healthanalytics.quality import CheckResult, run_quality_checks
from healthanalytics.stages.record import RunRecord
from healthanalytics.stages.reports import Reports


class QualityCheckError(RuntimeError):
    """A data-quality check on the reports failed."""


@dataclass(frozen=True)
class Checked:
    """The checks run and where their results were written."""

    checks: tuple[CheckResult, ...]
    path: str

    def summary(self) -> str:
        passed = sum(check.passed for check in self.checks)
        return f"{passed}/{len(self.checks)} checks passed"


def check_quality(
    settings: Settings, outputs: FileAccess, reports: Reports, record: RunRecord
) -> Checked:
    """Run every check, write all results to `<output>/quality_checks.json`, then raise
    QualityCheckError naming each failed check, if any failed."""
    checks = tuple(
        run_quality_checks(
            record.row(),
            reports.city_report,
            reports.prescriber_report,
            settings.top_n,
            reports.unmatched_cities,
        )
    )
    path = write_quality_checks(checks, join_path(settings.output, "quality_checks.json"), outputs)
    failed = [check for check in checks if not check.passed]
    if failed:
        raise QualityCheckError(
            "data-quality checks failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
        )
    return Checked(checks, path)
