"""Column kinds the analysis contracts share: each a Column with its type, unit and tests."""

from __future__ import annotations

from healthanalytics.contracts.model import Column, Range
from healthanalytics.contracts.reports import FLOAT, INT

SHARE = "share 0..1"


def share(name: str, description: str) -> Column:
    """A share 0..1; null when there is nothing to divide."""
    return Column(name, FLOAT, description, unit=SHARE, range=Range(0, 1))


def decile(name: str, description: str) -> Column:
    """A decile 0..10 (0: no volume)."""
    return Column(name, INT, description, unit="decile", not_null=True, range=Range(0, 10))


def amount(name: str, description: str, unit: str) -> Column:
    """A float amount of `unit`, never null, at least 0."""
    return Column(name, FLOAT, description, unit=unit, not_null=True, range=Range(0))


def count(name: str, description: str, unit: str, low: int = 0) -> Column:
    """An integer count of `unit`, never null, at least `low`."""
    return Column(name, INT, description, unit=unit, not_null=True, range=Range(low))
