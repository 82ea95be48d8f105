"""Stage `brief`: the launch brief page written into the run's output place, from the warehouse
rows the run has just committed (nothing recomputed), before the delivery is published (so on
S3 it is part of the delivery the pointer names). A failure is a warning, never the run's."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from healthanalytics.config import Settings
from healthanalytics.errors import error_line
from healthanalytics.io.publish import OutputPlace
from healthanalytics.io.warehouse import Warehouse
from healthanalytics.quality import CheckResult
from healthanalytics.stages.analysis import Analysis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Briefed:
    """Where the page went, or why there is none."""

    path: str | None
    note: str

    def summary(self) -> str:
        return self.path or self.note


def write_launch_brief(
    settings: Settings,
    warehouse: Warehouse,
    analysis: Analysis,
    checks: tuple[CheckResult, ...],
    place: OutputPlace,
) -> Briefed:
    """`launch_brief.html` (and its charts and tables in `charts/`) for the run's delivery
    date in the place's folder (`<output>`: a local folder or the Spark engine's Hadoop URI,
    written through the place's file access; the run's prefix on S3), when the analysis ran and
    succeeded. Any Exception is logged as a warning and returned as the note; on S3 the files
    already written are removed, so the delivery is published without a brief."""
    from healthanalytics.brief.write import remove_earlier_brief

    if analysis.skipped or analysis.error is not None:
        remove_earlier_brief(place)
        return Briefed(None, "not written: no launch analysis in this run")
    try:
        from healthanalytics.brief import build_launch_brief

        page = build_launch_brief(
            warehouse, settings.run_date, place, [c.to_dict() for c in checks]
        )
    except Exception as err:
        note = error_line(err)[:500]
        log.warning("the launch brief was not written: %s", note)
        log.debug("launch brief failure", exc_info=True)
        return Briefed(None, f"not written: {note}")
    log.info("launch brief written to %s", page)
    return Briefed(page, "written")
