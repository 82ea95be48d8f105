"""The two prescriber-fact layouts and how to tell them apart from a header."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class LayoutError(ValueError):
    """A fact header that matches neither known layout."""


# Canonical raw column -> candidate source names (first present wins), per layout.
COURSE: dict[str, tuple[str, ...]] = {
    "npi": ("npi",),
    "last_name": ("nppes_provider_last_org_name",),
    "first_name": ("nppes_provider_first_name",),
    "city": ("nppes_provider_city",),
    "state": ("nppes_provider_state",),
    "specialty": ("specialty_description",),
    "brand_name": ("drug_name",),
    "generic_name": ("generic_name",),
    "claims": ("total_claim_count",),
    "day_supply": ("total_day_supply",),
    "drug_cost": ("total_drug_cost",),
    "bene_count": ("bene_count",),
    "years_of_exp": ("years_of_exp", "year_exp"),
}
CMS: dict[str, tuple[str, ...]] = {
    "npi": ("Prscrbr_NPI",),
    "last_name": ("Prscrbr_Last_Org_Name",),
    "first_name": ("Prscrbr_First_Name",),
    "city": ("Prscrbr_City",),
    "state": ("Prscrbr_State_Abrvtn",),
    "specialty": ("Prscrbr_Type",),
    "brand_name": ("Brnd_Name",),
    "generic_name": ("Gnrc_Name",),
    "claims": ("Tot_Clms",),
    "day_supply": ("Tot_Day_Suply",),
    "drug_cost": ("Tot_Drug_Cst",),
    "bene_count": ("Tot_Benes",),
}
LAYOUTS = {"course": COURSE, "cms": CMS}
OPTIONAL = frozenset({"years_of_exp"})
RAW_COLUMNS: tuple[str, ...] = tuple(COURSE)


@dataclass(frozen=True)
class Layout:
    """A detected layout: its name and canonical column -> source column (None if absent)."""

    name: str
    columns: dict[str, str | None]

    @property
    def has_experience(self) -> bool:
        return self.columns.get("years_of_exp") is not None


def column_key(name: str) -> str:
    """How header names are compared: trimmed, in any case (`Tot_Clms` is ` tot_clms `)."""
    return name.strip().lower()


def _resolve(
    spec: dict[str, tuple[str, ...]], header: Sequence[str], source: str
) -> dict[str, str | None]:
    """Canonical column -> the header's name for it. LayoutError when the header holds two
    spellings of one column (`year_exp` and `years_of_exp`): which one holds the values is
    not for us to guess."""
    by_key = {column_key(name): name for name in header}
    resolved: dict[str, str | None] = {}
    for canonical, candidates in spec.items():
        present = [by_key[column_key(c)] for c in candidates if column_key(c) in by_key]
        if len(present) > 1:
            raise LayoutError(
                f"{source}: its header names the {canonical} column twice, as "
                f"{' and '.join(map(repr, present))}; keep one of them."
            )
        resolved[canonical] = present[0] if present else None
    return resolved


def detect_layout(header: Sequence[str], source: str = "fact file") -> Layout:
    """The layout whose required columns the header holds; LayoutError names what is missing."""
    best: tuple[int, str, list[str]] | None = None
    for name, spec in LAYOUTS.items():
        resolved = _resolve(spec, header, source)
        missing = [
            " or ".join(spec[c]) for c, src in resolved.items() if src is None and c not in OPTIONAL
        ]
        if not missing:
            return Layout(name, resolved)
        found = sum(src is not None for src in resolved.values())
        if best is None or found > best[0]:
            best = (found, name, missing)
    assert best is not None
    _, name, missing = best
    raise LayoutError(
        f"{source}: header matches neither the course nor the CMS layout; closest is the {name} "
        f"layout, which lacks column(s): {', '.join(missing)}. Check that the file is the "
        f"Part D prescriber-by-drug extract with its header row."
    )


CITY_REQUIRED = ("city", "state_id", "state_name", "county_name", "population", "zips")


def check_city_header(header: Sequence[str], source: str = "city file") -> None:
    """Raise LayoutError naming the city-dimension columns the header lacks."""
    missing = [name for name in CITY_REQUIRED if name not in set(header)]
    if missing:
        raise LayoutError(
            f"{source}: the city dimension lacks column(s): {', '.join(missing)}. "
            "Expected the simplemaps US Cities layout."
        )
