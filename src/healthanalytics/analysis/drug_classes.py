"""The drug-class map (`data/drug_classes.csv`): one row per generic name as CMS Part D files
write it, with its ingredient key, FDA Established Pharmacologic Class and therapeutic area.

Written by the team from public FDA facts (docs/RULES.md, "The market"); no WHO ATC codes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa

from healthanalytics.analysis.ingredients import ingredient_key
from healthanalytics.io.inputs import bundled

DRUG_CLASSES_FILE = "drug_classes.csv"
COLUMNS = (
    "generic_name",
    "ingredient_key",
    "epc",
    "therapeutic_area",
    "is_combination",
    "components",
)
# The fixed vocabulary of therapeutic areas (lower case, as `--market` and the listing show them).
THERAPEUTIC_AREAS = (
    "allergy",
    "cardiovascular",
    "dental",
    "dermatology",
    "diabetes",
    "endocrine",
    "gastrointestinal",
    "immunology",
    "infection",
    "musculoskeletal",
    "neurology",
    "nutrition",
    "oncology",
    "ophthalmology",
    "pain",
    "psychiatry",
    "renal",
    "respiratory",
    "supplies",
    "urology",
)
# A combination's class written as its components' classes joined (one of them, at least)
CLASS_JOINER = " + "


class DrugClassMapError(ValueError):
    """The drug-class map breaks one of its rules; the message names the file and line."""


@dataclass(frozen=True)
class DrugClass:
    """One generic name of the map."""

    generic_name: str
    ingredient_key: str
    epc: str
    therapeutic_area: str
    is_combination: bool
    components: tuple[str, ...]

    @property
    def classes(self) -> tuple[str, ...]:
        """The EPC names this generic belongs to: its `epc`, or each part of a combination's
        `A + B`."""
        return tuple(self.epc.split(CLASS_JOINER))


@cache
def bundled_drug_classes() -> tuple[DrugClass, ...]:
    """The map shipped in the package, read and checked once."""
    return load_drug_classes(bundled(DRUG_CLASSES_FILE))


def load_drug_classes(path: str | Path) -> tuple[DrugClass, ...]:
    """The map's rows, checked: the header is COLUMNS; every generic name is named once; every
    ingredient key is `ingredient_key(generic_name)` and the components are its `/` parts; a
    combination (`is_combination` true) has more than one component and a single drug one; an
    EPC joined with ` + ` only on a combination, with no more parts than it has components;
    every area is one of THERAPEUTIC_AREAS. Raises DrugClassMapError naming file and line."""
    name = Path(path).name
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        if header != COLUMNS:
            raise DrugClassMapError(
                f"{name}: line 1: expected the columns {', '.join(COLUMNS)}, found "
                f"{', '.join(header) or 'none'}"
            )
        rows, seen = [], {}
        for line, values in enumerate(reader, start=2):
            try:
                row = _row(values, seen, line)
            except ValueError as err:
                raise DrugClassMapError(f"{name}: line {line}: {err}") from None
            seen[row.generic_name] = line
            rows.append(row)
    if not rows:
        raise DrugClassMapError(f"{name}: the map lists no generic name")
    return tuple(rows)


def _row(values: list[str], seen: dict[str, int], line: int) -> DrugClass:
    if len(values) != len(COLUMNS):
        raise ValueError(f"expected {len(COLUMNS)} fields, found {len(values)}")
    generic, key, epc, area, combination, components = (value.strip() for value in values)
    if not generic:
        raise ValueError("generic_name is empty")
    if generic in seen:
        raise ValueError(f"{generic} is listed twice (first at line {seen[generic]})")
    expected = ingredient_key(generic)
    if key != expected:
        raise ValueError(f"{generic}: ingredient_key {key!r} should be {expected!r}")
    if components != key:
        raise ValueError(f"{generic}: components {components!r} should be {key!r}")
    if combination not in ("true", "false"):
        raise ValueError(f"{generic}: is_combination {combination!r} is not true or false")
    parts = tuple(key.split("/"))
    if (combination == "true") != (len(parts) > 1):
        raise ValueError(
            f"{generic}: is_combination is {combination} but it has {len(parts)} component(s)"
        )
    classes = epc.split(CLASS_JOINER)
    if not all(part.strip() for part in classes):
        raise ValueError(f"{generic}: epc {epc!r} is empty or has an empty part")
    if len(classes) > len(parts):
        raise ValueError(f"{generic}: epc {epc!r} names more classes than it has components")
    if area not in THERAPEUTIC_AREAS:
        raise ValueError(
            f"{generic}: therapeutic_area {area!r} is not one of {', '.join(THERAPEUTIC_AREAS)}"
        )
    return DrugClass(generic, key, epc, area, combination == "true", parts)


def drug_class_table(classes: tuple[DrugClass, ...]) -> pa.Table:
    """The map as an Arrow table (for an Ibis memtable): the columns of COLUMNS, `components`
    as its `/`-joined text."""
    return pa.table(
        {
            "generic_name": [row.generic_name for row in classes],
            "ingredient_key": [row.ingredient_key for row in classes],
            "epc": [row.epc for row in classes],
            "therapeutic_area": [row.therapeutic_area for row in classes],
            "is_combination": pa.array([row.is_combination for row in classes], pa.bool_()),
            "components": ["/".join(row.components) for row in classes],
        }
    )
