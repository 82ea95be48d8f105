"""The data dictionary: every contract as Markdown (docs/TABLES.md) or as rich tables (the
`healthanalytics tables` command)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator

from rich.console import Group
from rich.table import Table
from rich.text import Text

from healthanalytics.contracts.model import TableContract

REGENERATE = "healthanalytics tables --markdown > docs/TABLES.md"

INTRODUCTION = (
    "The tables a run persists in the warehouse (a DuckDB file or PostgreSQL); city_report and "
    "prescriber_report are also written as report files, with the same columns. A per-delivery "
    "table holds one delivery per delivery_date, replaced when that date is run again; an "
    "append-only table only gains rows. The quality stage runs the tests of the per-delivery "
    "tables on every run and writes them to quality_checks.json; a failed test stops the run "
    "before any report file or table is written. The tests of pipeline_runs are checked on a "
    "real run's rows by the test suite (tests/test_contracts.py)."
)


def _kind(contract: TableContract) -> str:
    if contract.per_delivery:
        return "per delivery (a run replaces its delivery_date's rows)"
    return "append-only (one row per run)"


def _key(contract: TableContract) -> str:
    if not contract.key:
        return "none"
    within = " within a delivery" if contract.per_delivery else ""
    return f"({', '.join(contract.key)}), unique{within}"


def _checked(contract: TableContract) -> str:
    if contract.per_delivery:
        return "run by the quality stage, named as in quality_checks.json"
    return "checked by the test suite on a real run's rows"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(contracts: Iterable[TableContract]) -> str:
    """The data dictionary as the Markdown of docs/TABLES.md, its first line saying how it is
    made."""
    lines = [
        f"_Generated from src/healthanalytics/contracts/ by `{REGENERATE}`: "
        "edit the contracts, not this file._",
        "",
        "# Tables",
        "",
        textwrap.fill(INTRODUCTION, width=100),
    ]
    for contract in contracts:
        lines += ["", f"## {contract.name}", "", contract.description, ""]
        lines += [f"- Kept: {_kind(contract)}", f"- Key: {_key(contract)}", ""]
        lines += [
            "| column | type | unit | description | tests |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| `{column.name}` | {column.type} | {column.unit} | {_cell(column.description)} "
            f"| {_cell('; '.join(column.tests()))} |"
            for column in contract.columns
        ]
        lines += ["", f"Tests ({_checked(contract)}):", ""]
        lines += [f"- `{test.name}`: {test.description}" for test in contract.tests()]
    return "\n".join(lines) + "\n"


def rich_tables(contracts: Iterable[TableContract]) -> Iterator[Group]:
    """One printable block per table: a heading, its columns and its tests."""
    for contract in contracts:
        heading = Text.assemble(
            (contract.name, "bold"),
            f"  {contract.description}\n",
            f"kept: {_kind(contract)}; key: {_key(contract)}",
        )
        columns = Table("column", "type", "unit", "description", "tests", expand=False)
        for column in contract.columns:
            cells = (column.name, str(column.type), column.unit, column.description)
            # as Text: a type such as date32[day] is no markup
            columns.add_row(*(Text(cell) for cell in (*cells, "; ".join(column.tests()))))
        tests = Table(f"test ({_checked(contract)})", "checks that", expand=False)
        for test in contract.tests():
            tests.add_row(Text(test.name), Text(test.description))
        yield Group(heading, columns, tests, Text(""))
