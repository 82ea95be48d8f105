"""The quality stage's checks: each table's data tests, as its contract declares them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import ibis.expr.types as ir

from healthanalytics.contracts import TABLES, DataTest, RunParameters
from healthanalytics.engines import Engine


class QualityCheckError(RuntimeError):
    """A data-quality check on the run's tables failed."""


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, and what was found."""

    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_quality_checks(
    tables: Mapping[str, ir.Table], params: RunParameters, engine: Engine
) -> list[CheckResult]:
    """Every data test the contracts declare for `tables` (table name -> the run's rows; only
    the columns the tests name are needed), computed by `engine`, in the order `tests()`
    gives; none raises, the caller decides (see `require_passed`). The row-level tests of a
    table run as one query."""
    results = []
    for name, table in tables.items():
        tests = TABLES[name].tests()
        per_row = [test for test in tests if test.row_fails is not None]
        counts: dict[str, Any] = {}
        if per_row:
            failing = {
                f"_{index}": test.row_fails(table).sum().fill_null(0).cast("int64")
                for index, test in enumerate(per_row)
            }
            found = engine.one_row(table.aggregate(**failing))
            counts = {test.name: found[f"_{index}"] for index, test in enumerate(per_row)}
        for test in tests:
            if test.count is not None:
                failures = test.count(table, params).name("failures").as_table()
                counts[test.name] = engine.one_row(failures)["failures"]
            results.append(_result(test, int(counts[test.name]), params))
    return results


def _result(test: DataTest, failures: int, params: RunParameters) -> CheckResult:
    what = test.what.format(**asdict(params))
    return CheckResult(test.name, failures == 0, f"{failures} {what}" if failures else "ok")


def require_passed(checks: Sequence[CheckResult]) -> None:
    """Raise QualityCheckError naming every failed check (with what it found), if any."""
    failed = [check for check in checks if not check.passed]
    if failed:
        raise QualityCheckError(
            "data-quality checks failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
        )
