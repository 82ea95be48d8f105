"""The database the reports are loaded into: a DuckDB file or PostgreSQL, same tables in both."""

from __future__ import annotations

from healthanalytics.io.warehouse.base import Warehouse, WarehouseError, mask_url

__all__ = ["Warehouse", "WarehouseError", "mask_url", "open_warehouse"]


def open_warehouse(target: str, lock_timeout: float = 0) -> Warehouse:
    """Connect to `target` (a postgresql:// URL or a DuckDB file path), create missing tables and
    add the columns a newer release appends to existing ones. A DuckDB file another process has
    open is waited for up to `lock_timeout` seconds, then refused (RunLockError)."""
    if target.startswith(("postgresql://", "postgres://")):
        from healthanalytics.io.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(target)
    if "://" in target:
        scheme = target.split("://", 1)[0]
        raise WarehouseError(
            f"unsupported database URL scheme {scheme!r} in {mask_url(target)}: "
            "give a postgresql:// URL or a DuckDB file path"
        )
    from healthanalytics.io.warehouse.duckdb_file import DuckDBWarehouse

    return DuckDBWarehouse(target, lock_timeout)
