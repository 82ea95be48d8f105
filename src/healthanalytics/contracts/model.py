"""What a table contract is: columns with types and units, a key, and data tests.

A contract declares; everything else derives from it: the warehouse DDL and shape check
(`schema`), the columns report files hold (`persisted`), the quality stage's checks (`tests`)
and the data dictionary (`healthanalytics tables`, docs/TABLES.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pyarrow as pa

DELIVERY_DATE = "delivery_date"


@dataclass(frozen=True)
class RunParameters:
    """The run's settings a data test may depend on."""

    top_n: int


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of a numeric column; None = unbounded on that side."""

    low: int | float | None = None
    high: int | float | None = None

    def describe(self) -> str:
        """'in 0..9,999,999,999', 'at least 1' or 'at most 5'."""
        if self.low is not None and self.high is not None:
            return f"in {self.low:,}..{self.high:,}"
        return f"at least {self.low:,}" if self.low is not None else f"at most {self.high:,}"

    def outside(self, value: ir.NumericValue) -> ir.BooleanValue:
        """Whether the value breaks the bounds (null for a null value: not-null is its own test)."""
        if self.low is not None and self.high is not None:
            return ~value.between(self.low, self.high)
        return value < self.low if self.low is not None else value > self.high


@dataclass(frozen=True)
class Accepted:
    """The values a text column may hold; `label` names a long set in messages and docs."""

    values: tuple[str, ...]
    label: str = ""

    def describe(self) -> str:
        return self.label or "one of " + ", ".join(self.values)


@dataclass(frozen=True)
class Column:
    """One column: name, Arrow type, what it holds, its unit (every number has one: USD, days,
    claims, share 0..1, ...) and its row-level tests."""

    name: str
    type: pa.DataType
    description: str
    unit: str = ""
    not_null: bool = False
    range: Range | None = None
    accepted: Accepted | None = None

    def __post_init__(self) -> None:
        if (pa.types.is_integer(self.type) or pa.types.is_floating(self.type)) and not self.unit:
            raise ValueError(f"column {self.name}: a number needs its unit")

    def tests(self) -> list[str]:
        """The column's tests as the data dictionary lists them."""
        found = ["not null"] if self.not_null else []
        if self.range is not None:
            found.append(self.range.describe())
        if self.accepted is not None:
            found.append(self.accepted.describe())
        return found


@dataclass(frozen=True)
class DataTest:
    """One check of a table, named as in quality_checks.json. Either `row_fails` (a predicate
    true on each failing row; the row-level tests of a table run as one query) or `count` (the
    number of failures, e.g. duplicate rows or bad groups) is given. A failure reads
    '<count> <what>'; `what` and `description` may name the run parameters ({top_n})."""

    name: str
    description: str
    what: str
    row_fails: Callable[[ir.Table], ir.BooleanValue] | None = None
    count: Callable[[ir.Table, RunParameters], ir.IntegerScalar] | None = None

    def __post_init__(self) -> None:
        if (self.row_fails is None) == (self.count is None):
            raise ValueError(f"data test {self.name}: give row_fails or count, not both")


@dataclass(frozen=True)
class TableContract:
    """A persisted table: its columns in order, key, kind and data tests.

    `per_delivery` tables hold one delivery per `delivery_date` (the last column), replaced
    when that date is run again; the others only append. `key` is unique within a delivery;
    `grain` (what one row is) names the uniqueness check when the key has several columns.
    `custom_tests` are the checks no column declaration can say."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    grain: str = ""
    per_delivery: bool = True
    custom_tests: tuple[DataTest, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [column.name for column in self.columns]
        if len(set(names)) != len(names) or not set(self.key) <= set(names):
            raise ValueError(f"contract {self.name}: a column twice, or a key column missing")
        if self.per_delivery and names[-1] != DELIVERY_DATE:
            raise ValueError(f"contract {self.name}: a per-delivery table ends in delivery_date")

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def computed_names(self) -> list[str]:
        """The columns a transform computes: all but delivery_date, which persisting adds."""
        return [name for name in self.names if name != DELIVERY_DATE]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(column.name, column.type) for column in self.columns])

    def persisted(self, table: ir.Table, delivery_date: dt.date) -> ir.Table:
        """`table` as it is persisted: the contract's columns in order, delivery_date added."""
        return table.mutate(**{DELIVERY_DATE: ibis.literal(delivery_date)}).select(*self.names)

    def tests(self) -> list[DataTest]:
        """Every check of the table: the key unique, the not-null columns, each column's range
        and accepted values, then the custom tests."""
        found = []
        if self.key:
            found.append(_unique(self))
        not_null = [column.name for column in self.columns if column.not_null]
        if not_null:
            found.append(_not_null(self.name, not_null))
        for column in self.columns:
            if column.range is not None:
                found.append(_in_range(self.name, column.name, column.range))
            if column.accepted is not None:
                found.append(_accepted(self.name, column.name, column.accepted))
        return [*found, *self.custom_tests]


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _unique(contract: TableContract) -> DataTest:
    key = list(contract.key)
    suffix = key[0] if len(key) == 1 else contract.grain

    def duplicates(table: ir.Table, params: RunParameters) -> ir.IntegerScalar:
        groups = table.group_by(key).aggregate(_rows=table.count())
        return (groups._rows - 1).sum().fill_null(0)

    return DataTest(
        f"{contract.name}_unique_{suffix}",
        f"one row per ({', '.join(key)})",
        f"duplicate ({', '.join(key)}) rows",
        count=duplicates,
    )


def _not_null(table_name: str, names: list[str]) -> DataTest:
    return DataTest(
        f"{table_name}_not_null",
        f"no null {_listed(names)}",
        f"rows with a null {_listed(names)}",
        row_fails=lambda table: ibis.or_(*[table[name].isnull() for name in names]),
    )


def _in_range(table_name: str, name: str, bounds: Range) -> DataTest:
    return DataTest(
        f"{table_name}_{name}_in_range",
        f"{name} {bounds.describe()}",
        f"rows whose {name} is not {bounds.describe()}",
        row_fails=lambda table: bounds.outside(table[name]),
    )


def _accepted(table_name: str, name: str, accepted: Accepted) -> DataTest:
    return DataTest(
        f"{table_name}_{name}_accepted_values",
        f"{name} is {accepted.describe()}",
        f"rows whose {name} is not {accepted.describe()}",
        row_fails=lambda table: ~table[name].isin(accepted.values),
    )
