"""The market basket: the drugs a new one will compete with, chosen by a class, a therapeutic
area or names, and resolved against the drug-class map.

A basket is a set of ingredient keys: a line is in the market when the ingredient key of its
generic name is one of them (`ingredient_key_expr(generic_name).isin(basket.ingredient_keys)`),
so every brand and generic of a molecule counts, and generic names the map does not list by
their exact spelling still match.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from functools import cache
from typing import Literal

from healthanalytics.analysis.drug_classes import (
    THERAPEUTIC_AREAS,
    DrugClass,
    bundled_drug_classes,
)
from healthanalytics.analysis.ingredients import ingredient_key
from healthanalytics.io.inputs import bundled

# Used when no market is given: the statins, a large class of the bundled sample (5 generics,
# about 103,000 of its claims) that nearly every primary-care prescriber writes.
DEFAULT_MARKET_CLASS = "HMG-CoA Reductase Inhibitor"
# Brand names known to the run: the bundled list of real Part D brand/generic pairs.
BRANDS_FILE = "drugs.csv"


class MarketError(ValueError):
    """A market that names no known class, area, generic or brand; the message says which."""


@dataclass(frozen=True)
class MarketBasket:
    """A resolved market.

    kind: how it was chosen (`class`, `area`, `names`); name: what to call it in reports;
    ingredient_keys: the molecules in it, sorted; generic_names: the map's generic names with
    one of those keys, sorted (what the market lists)."""

    kind: Literal["class", "area", "names"]
    name: str
    ingredient_keys: tuple[str, ...]
    generic_names: tuple[str, ...]


@cache
def bundled_brands() -> dict[str, str]:
    """Brand name -> generic name, from the bundled list (upper case, as CMS writes them)."""
    with open(bundled(BRANDS_FILE), newline="", encoding="utf-8") as handle:
        return {row["brand_name"]: row["generic_name"] for row in csv.DictReader(handle)}


def epc_names(classes: tuple[DrugClass, ...]) -> tuple[str, ...]:
    """Every class name of the map (a combination's parts included), sorted."""
    return tuple(sorted({name for row in classes for name in row.classes}, key=str.lower))


def resolve_market(
    epc: str | None = None,
    area: str | None = None,
    generics: tuple[str, ...] | list[str] = (),
    brands: tuple[str, ...] | list[str] = (),
    classes: tuple[DrugClass, ...] | None = None,
    brand_names: dict[str, str] | None = None,
) -> MarketBasket:
    """The basket of one choice: a class (`epc`, an FDA EPC name of the map: every generic of
    that class, combinations containing it included), a therapeutic area (every generic of
    it), or names (`generics`: generic names of the map or their ingredient keys, and/or
    `brands`: brand names of the bundled list; the molecules they name). Names and classes
    match in any case. None of them: the default market (DEFAULT_MARKET_CLASS).
    Raises MarketError for an unknown name (with close matches) or more than one kind chosen."""
    classes = bundled_drug_classes() if classes is None else classes
    brand_names = bundled_brands() if brand_names is None else brand_names
    chosen = [kind for kind, given in (("class", epc), ("area", area)) if given]
    if generics or brands:
        chosen.append("generics/brands")
    if len(chosen) > 1:
        raise MarketError(
            f"choose one of a class, an area or generic/brand names, not {' and '.join(chosen)}"
        )
    if area:
        return _area_basket(area, classes)
    if generics or brands:
        return _names_basket(generics, brands, classes, brand_names)
    return _class_basket(epc or DEFAULT_MARKET_CLASS, classes)


def parse_market(text: str, classes: tuple[DrugClass, ...] | None = None) -> dict[str, object]:
    """The `--market` flag as settings: a class name, else a therapeutic area, else generic and
    brand names separated by commas (each a generic name of the map, else a brand). Returns
    `{"class": ...}`, `{"area": ...}` or `{"generics": [...], "brands": [...]}`; raises
    MarketError naming an unknown name."""
    classes = bundled_drug_classes() if classes is None else classes
    wanted = text.strip()
    by_lower = {name.lower(): name for name in epc_names(classes)}
    if wanted.lower() in by_lower:
        return {"class": by_lower[wanted.lower()]}
    if wanted.lower() in THERAPEUTIC_AREAS:
        return {"area": wanted.lower()}
    generic_names = _generic_keys(classes)
    brands = bundled_brands()
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    if not names:
        raise MarketError("give a class, a therapeutic area or generic/brand names")
    unknown = [n for n in names if n.upper() not in generic_names and n.upper() not in brands]
    if unknown:
        # a name that is neither may be a misspelt class or area as well
        choices = [*by_lower.values(), *THERAPEUTIC_AREAS, *generic_names, *brands]
        raise MarketError(
            _unknown(
                "class, area, generic or brand",
                unknown[0],
                choices,
                _containing(unknown[0], classes),
            )
        )
    return {
        "generics": [name.upper() for name in names if name.upper() in generic_names],
        "brands": [name.upper() for name in names if name.upper() not in generic_names],
    }


def _class_basket(epc: str, classes: tuple[DrugClass, ...]) -> MarketBasket:
    by_lower = {name.lower(): name for name in epc_names(classes)}
    name = by_lower.get(epc.strip().lower())
    if name is None:
        raise MarketError(
            _unknown("class", epc, list(by_lower.values()), _containing(epc, classes, ("class",)))
        )
    rows = [row for row in classes if name in row.classes]
    return _basket("class", name, rows, classes)


def _area_basket(area: str, classes: tuple[DrugClass, ...]) -> MarketBasket:
    name = _known_area(area, classes)
    rows = [row for row in classes if row.therapeutic_area == name]
    return _basket("area", name, rows, classes)


def _known_area(area: str, classes: tuple[DrugClass, ...]) -> str:
    """`area` as THERAPEUTIC_AREAS names it; MarketError naming the close ones when unknown."""
    name = area.strip().lower()
    if name not in THERAPEUTIC_AREAS:
        close = _containing(area, classes, ("area",))
        raise MarketError(_unknown("therapeutic area", area, list(THERAPEUTIC_AREAS), close))
    return name


def _names_basket(
    generics: tuple[str, ...] | list[str],
    brands: tuple[str, ...] | list[str],
    classes: tuple[DrugClass, ...],
    brand_names: dict[str, str],
) -> MarketBasket:
    mapped = _generic_keys(classes)
    keys = []
    for generic in generics:
        name = generic.strip().upper()
        if name not in mapped:
            raise MarketError(
                _unknown("generic name", generic, sorted(mapped), _containing(generic, classes))
            )
        keys.append(mapped[name])
    for brand in brands:
        name = brand.strip().upper()
        if name not in brand_names:
            raise MarketError(
                _unknown("brand name", brand, sorted(brand_names), _containing(brand, classes))
            )
        keys.append(ingredient_key(brand_names[name]))
    label = ", ".join(name.strip().upper() for name in (*generics, *brands))
    wanted = set(keys)
    return _basket("names", label, [r for r in classes if r.ingredient_key in wanted], classes)


def _generic_keys(classes: tuple[DrugClass, ...]) -> dict[str, str]:
    """Generic names of the map and their ingredient keys (`ATORVASTATIN` as well as
    `ATORVASTATIN CALCIUM`), each to its key."""
    keys = {row.ingredient_key: row.ingredient_key for row in classes}
    return keys | {row.generic_name: row.ingredient_key for row in classes}


def _basket(
    kind: Literal["class", "area", "names"],
    name: str,
    rows: list[DrugClass],
    classes: tuple[DrugClass, ...],
) -> MarketBasket:
    keys = {row.ingredient_key for row in rows}
    # every spelling of those molecules the map lists (METOPROLOL SUCCINATE and TARTRATE)
    generic_names = sorted(row.generic_name for row in classes if row.ingredient_key in keys)
    return MarketBasket(kind, name, tuple(sorted(keys)), tuple(generic_names))


def _unknown(what: str, given: str, choices: list[str], containing: tuple[str, ...]) -> str:
    """The one-line message for an unknown name: the classes and areas `containing` it (see
    `_containing`), then up to 3 of `choices` closest to it (difflib ratio at least 0.6, the
    others only when nearly as close as the best; none of `containing` again); when neither
    gives a name, that none is close."""
    by_upper = {choice.upper(): choice for choice in choices}
    wanted = given.strip().upper()
    close = difflib.get_close_matches(wanted, list(by_upper), n=3, cutoff=0.6)
    if close:  # the best, and the others only when nearly as close
        best = difflib.SequenceMatcher(None, wanted, close[0]).ratio()
        close = [c for c in close if difflib.SequenceMatcher(None, wanted, c).ratio() >= best - 0.1]
    close = [c for c in close if by_upper[c] not in containing]  # each name said once
    hints = []
    if containing:
        hints.append(f"{given.strip()!r} is in the name or generics of {', '.join(containing)}")
    if close:
        hints.append(f"did you mean {' or '.join(by_upper[c] for c in close)}?")
    elif not containing:
        hints.append("no close name; see `healthanalytics markets`")
    return f"unknown {what} {given.strip()!r}: {'; '.join(hints)}"


def _containing(
    word: str, classes: tuple[DrugClass, ...], kinds: tuple[str, ...] = ("class", "area")
) -> tuple[str, ...]:
    """Up to 3 classes and areas (`kinds`) whose name, or the generic name of a member, holds
    `word` (case-insensitive): those named so first, then by the share of their generics that
    hold it (`statin` -> HMG-CoA Reductase Inhibitor, all of whose generics are statins)."""
    wanted = word.strip().lower()
    if not wanted:
        return ()
    groups: dict[str, list[str]] = {}
    for row in classes:
        names = list(row.classes) if "class" in kinds else []
        if "area" in kinds:
            names.append(row.therapeutic_area)
        for name in names:
            groups.setdefault(name, []).append(row.generic_name)
    ranked = []
    for name, generics in groups.items():
        holding = sum(wanted in generic.lower() for generic in generics)
        named = wanted in name.lower()
        if named or holding:
            ranked.append((not named, -holding / len(generics), name.lower(), name))
    return tuple(name for *_, name in sorted(ranked)[:3])


def market_listing(area: str | None = None, classes: tuple[DrugClass, ...] | None = None) -> str:
    """The map's classes grouped by therapeutic area (only `area` when given), each with its
    generic names, as `healthanalytics markets` prints them. A combination is listed under
    each of its classes. Raises MarketError for an unknown area."""
    classes = bundled_drug_classes() if classes is None else classes
    areas = THERAPEUTIC_AREAS
    if area is not None:
        areas = (_known_area(area, classes),)
    lines = [
        "Drug classes of the bundled map by therapeutic area (FDA Established Pharmacologic "
        "Class: generic names, separated by semicolons).",
        "Choose a market with --market CLASS, --market AREA or --market NAME,NAME,... "
        f"(default: {DEFAULT_MARKET_CLASS}).",
    ]
    for name in areas:
        members: dict[str, list[str]] = {}
        for row in classes:
            if row.therapeutic_area == name:
                for epc in row.classes:
                    members.setdefault(epc, []).append(row.generic_name)
        if not members:
            continue
        lines += ["", name]
        for epc in sorted(members, key=str.lower):
            default = " (default)" if epc == DEFAULT_MARKET_CLASS else ""
            lines.append(f"  {epc}{default}: {'; '.join(sorted(members[epc]))}")
    return "\n".join(lines) + "\n"
