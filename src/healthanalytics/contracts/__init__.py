"""One contract per persisted table (as dbt's schema.yml): columns, types, units, key, tests.

To add a table, declare its `TableContract` (in a module of this package beside the tables
it belongs with) and list it in `TABLES` below: the warehouse creates and checks it, the
quality stage runs its tests, and `healthanalytics tables` documents it.
"""

from __future__ import annotations

from healthanalytics.contracts.analysis import (
    ANALYSIS_TABLES,
    MARKET_DECILES,
    MARKET_GEOGRAPHY,
    MARKET_PRESCRIBERS,
    MARKET_PRODUCTS,
    MARKET_SPECIALTIES,
    MARKET_SUMMARY,
)
from healthanalytics.contracts.model import (
    Accepted,
    Column,
    DataTest,
    Range,
    RunParameters,
    TableContract,
)
from healthanalytics.contracts.reports import CITY_REPORT, PRESCRIBER_REPORT, UNMATCHED_CITIES
from healthanalytics.contracts.runs import PIPELINE_RUNS, QUARANTINE

# Every persisted table, in the order the warehouse creates them and the docs list them.
TABLES: dict[str, TableContract] = {
    contract.name: contract
    for contract in (
        CITY_REPORT,
        PRESCRIBER_REPORT,
        QUARANTINE,
        UNMATCHED_CITIES,
        *ANALYSIS_TABLES,
        PIPELINE_RUNS,
    )
}
# The tables holding one delivery per run date (replaced on re-run); the others only append.
DELIVERY_TABLES: dict[str, TableContract] = {
    name: contract for name, contract in TABLES.items() if contract.per_delivery
}

__all__ = [
    "CITY_REPORT",
    "DELIVERY_TABLES",
    "MARKET_DECILES",
    "MARKET_GEOGRAPHY",
    "MARKET_PRESCRIBERS",
    "MARKET_PRODUCTS",
    "MARKET_SPECIALTIES",
    "MARKET_SUMMARY",
    "PIPELINE_RUNS",
    "PRESCRIBER_REPORT",
    "QUARANTINE",
    "TABLES",
    "UNMATCHED_CITIES",
    "Accepted",
    "Column",
    "DataTest",
    "Range",
    "RunParameters",
    "TableContract",
]
