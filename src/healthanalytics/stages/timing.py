"""Timing and logging of stages, and of the tables the engine stores within them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import ibis.expr.types as ir

from healthanalytics.engines import Engine

log = logging.getLogger(__name__)

StageListener = Callable[[str, str, float | None, str], None]
"""Called as (stage, "start" | "end", seconds, detail) so a front end can show progress."""

_R = TypeVar("_R", bound="StageResult")


class StageResult(Protocol):
    def summary(self) -> str:
        """One line on what the stage produced, for the log and the progress display."""
        ...


def quiet(stage: str, event: str, seconds: float | None, detail: str) -> None:
    return None


class StageTimer:
    """Runs stages: logs each one's start, end and duration, and tells the listener."""

    def __init__(self, listener: StageListener = quiet) -> None:
        self._listener = listener
        self.seconds: dict[str, float] = {}

    def run(self, name: str, stage: Callable[..., _R], *args: Any) -> _R:
        """`stage(*args)`, timed under `name`."""
        log.info("stage %s: start", name)
        self._listener(name, "start", None, "")
        began = time.perf_counter()
        result = stage(*args)
        seconds = time.perf_counter() - began
        self.seconds[name] = round(seconds, 3)
        detail = result.summary()
        log.info("stage %s: end after %.2f s%s", name, seconds, f" ({detail})" if detail else "")
        self._listener(name, "end", seconds, detail)
        return result


def store(engine: Engine, compute: Callable[..., ir.Table], *args: Any) -> ir.Table:
    """`compute(*args)` computed and held by the engine under the function's name."""
    name = compute.__name__
    began = time.perf_counter()
    stored = engine.materialize(compute(*args), name)
    log.info("table %s: computed in %.2f s", name, time.perf_counter() - began)
    log.info("schema %s: %s", name, ", ".join(f"{c} {t}" for c, t in stored.schema().items()))
    return stored
