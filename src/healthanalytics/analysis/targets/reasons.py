"""A scored prescriber's reasons in words: the inputs raising its score most."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

MOST_REASONS = 3


def _number(value: Any, text: Callable[[float], str], missing: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return text(float(value))


# input -> its value in words (a null value has its own words)
WORDS: dict[str, Callable[[Any], str]] = {
    "specialty": lambda v: f"specialty {v}" if v is not None else "no specialty given",
    "presc_state": lambda v: f"state {v}" if v is not None else "no state given",
    "city_segment": lambda v: f"city segment {v}" if v is not None else "no city segment",
    "other_fills": lambda v: _number(v, lambda x: f"{x:,.0f} fills of other drugs", ""),
    "other_claims": lambda v: _number(v, lambda x: f"{x:,.0f} claims of other drugs", ""),
    "other_generics": lambda v: _number(v, lambda x: f"{x:,.0f} generics outside the market", ""),
    "other_brand_share": lambda v: _number(
        v, lambda x: f"{x:.0%} brands outside the market", "no fills outside the market"
    ),
    "other_beneficiaries": lambda v: _number(
        v, lambda x: f"{x:,.0f} beneficiaries of other drugs", ""
    ),
    "years_of_exp": lambda v: _number(
        v, lambda x: f"{x:,.0f} years of experience", "experience unknown"
    ),
}


def reasons_text(
    frame: pd.DataFrame, columns: list[str], contributions: np.ndarray
) -> list[str | None]:
    """Per row of `frame`: its inputs with the largest positive contributions (at most
    MOST_REASONS, largest first; ties: the order of `columns`), in words joined by '; ';
    None when no input raises its score."""
    if not len(frame):
        return []
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :MOST_REASONS]
    values = {column: frame[column].to_numpy(dtype=object) for column in columns}
    found: list[str | None] = []
    for row, picks in enumerate(order):
        words = [
            WORDS[columns[pick]](_plain(values[columns[pick]][row]))
            for pick in picks
            if contributions[row, pick] > 0
        ]
        found.append("; ".join(words) if words else None)
    return found


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value
