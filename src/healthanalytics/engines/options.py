"""Each engine's own settings. `config.Settings` takes them in, so they stay flat keys of the
TOML file, environment variables and flags (`threads`, `master`, ...), declared here, beside
the engines that read them."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


def default_memory_limit() -> str | None:
    """A fifth of physical memory: DuckDB spills past it, so a 25M-row year stays near 6 GB
    of RSS on a 24 GB machine and leaves room for the database and the rest of the system."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None  # DuckDB's own default (80 % of memory)
    return f"{max(1024, total // 5 // 2**20)}MB"


class DuckDBOptions(BaseModel):
    """The DuckDB engine's settings."""

    threads: int = Field(default_factory=default_threads, ge=1)
    memory_limit: str | None = Field(default_factory=default_memory_limit)
    temp_directory: str | None = None


class SparkOptions(BaseModel):
    """The Spark engine's settings: the master URL and Spark configuration keys."""

    master: str = "local[*]"
    spark_conf: dict[str, str] = Field(default_factory=dict)
