"""Stage `connect`: take the run's locks, tidy what dead runs left, record the run `running`."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass

from healthanalytics.config import Settings
from healthanalytics.io.files import uri_scheme
from healthanalytics.io.locks import lock_output_folder
from healthanalytics.io.report_files import remove_stale_staging
from healthanalytics.io.warehouse import Warehouse, open_warehouse
from healthanalytics.stages.record import RunTracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connected:
    """The open warehouse, its delivery date locked for this run (and the output folder)."""

    warehouse: Warehouse
    tidied: tuple[str, ...]

    def summary(self) -> str:
        return "; ".join(self.tidied)


def connect(settings: Settings, run: RunTracker, held: ExitStack) -> Connected:
    """Lock the local output folder, open the warehouse and lock the run's delivery date in it
    (both held until `held` closes; the folder is released last), mark earlier runs that died
    `abandoned`, remove what they left in the output folder, and record this run `running`.

    Raises RunLockError when another run holds a lock past `settings.lock_timeout` seconds."""
    record = run.record
    local_output = uri_scheme(settings.output) is None
    if local_output:
        owner = {"run_id": record.run_id, "pid": record.pid, "host": record.host,
                 "started_at": record.started_at}  # fmt: skip
        held.enter_context(lock_output_folder(settings.output, owner, settings.lock_timeout))
    warehouse = held.enter_context(open_warehouse(settings.warehouse_target, settings.lock_timeout))
    run.attach(warehouse)
    warehouse.lock_delivery(settings.run_date, settings.lock_timeout)
    tidied = _tidy_leftovers(warehouse, record.run_id, settings.output if local_output else None)
    run.begin()
    return Connected(warehouse, tuple(tidied))


def _tidy_leftovers(warehouse: Warehouse, run_id: str, local_output: str | None) -> list[str]:
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
    if local_output is not None:
        tidied = remove_stale_staging(local_output)
        if tidied:
            notes.append(f"{len(tidied)} leftover(s) of stopped runs tidied")
    return notes
