"""Execution engines. `create_engine` is the one place that picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthanalytics.engines.base import Engine, EngineError

if TYPE_CHECKING:  # config takes in the engines' own settings (engines/options.py)
    from healthanalytics.config import Settings

__all__ = ["Engine", "EngineError", "create_engine"]


def create_engine(settings: Settings) -> Engine:
    """The engine the settings ask for, started."""
    if settings.engine == "duckdb":
        from healthanalytics.engines.duckdb import DuckDBEngine

        return DuckDBEngine(settings)
    if settings.engine == "spark":
        try:
            from healthanalytics.engines.spark import SparkEngine
        except ImportError as err:
            raise EngineError(
                "the Spark engine needs PySpark: pip install 'healthanalytics[spark]' "
                f"(missing: {err.name})"
            ) from err
        return SparkEngine(settings)
    raise EngineError(f"unknown engine {settings.engine!r}: choose duckdb or spark")
