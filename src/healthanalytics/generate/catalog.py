"""The bundled reference data the generator draws from: drugs, specialties, names and places.

Everything a chunk needs is here as Arrow dictionaries (strings, taken by index) and NumPy
weights, loaded once per process; the chunk builder never touches a Python string per row. The
drug weights carry the planted structure of `structure.py` (specialty focus, brand uptake).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from healthanalytics.generate.structure import BRAND_LEVELS, BRAND_STEP, PLANTED, Planted

DIMENSION_FILE = "us_cities_dimension.parquet"

# Spelling kinds of a real city and how often each is drawn (upper case dominates).
CITY_VARIANTS = ("upper", "short", "long", "lower", "leading", "trailing", "double")
CITY_VARIANT_SHARES = np.array([0.82, 0.05, 0.04, 0.02, 0.02, 0.02, 0.03])
_SHORT_FORMS = (("ST. ", "ST "), ("SAINT ", "ST "), ("FORT ", "FT "), ("MOUNT ", "MT "))
_LONG_FORMS = (("ST. ", "SAINT "), ("ST ", "SAINT "), ("FT ", "FORT "), ("MT ", "MOUNT "))

NAME_SUFFIXES = ("", ", JR", ", SR", ", III", ", II")

# Roots and endings of invented towns; any that exist in the dimension are dropped.
_TOWN_ROOTS = (
    "ASH", "BIRCH", "BRAM", "BRIAR", "CEDAR", "CLOVER", "CROW", "DEER", "ELDER", "ELM", "FALCON",
    "FERN", "FOX", "GLEN", "GRAY", "HAWK", "HAZEL", "HOLLY", "IRON", "IVY", "JUNIPER", "LARK",
    "LAUREL", "MAPLE", "MARBLE", "MEADOW", "MILL", "MOSS", "OAK", "OTTER", "PINE", "QUAIL", "RAVEN",
    "REED", "SAGE", "SILVER", "SPRUCE", "STONE", "SWAN", "THISTLE", "WILLOW", "WREN",
)  # fmt: skip
_TOWN_ENDINGS = (
    "BROOK", "BURY", "CREST", "DALE", "FIELD", "FORD", "GATE", "HAVEN", "HURST", "LEIGH", "MERE",
    "MONT", "MOOR", "TON", "VALE", "VILLE", "WICK", "WOOD", " CROSSING", " HOLLOW", " JUNCTION",
    " LANDING", " SPRINGS",
)  # fmt: skip
_TOWN_PREFIXES = ("NORTH ", "SOUTH ", "EAST ", "WEST ", "NEW ", "LAKE ", "PORT ", "FORT ")
_TOWN_COMMA_TAILS = (", VILLAGE OF", ", TOWN OF", ", CITY OF")


@dataclass(frozen=True)
class Catalog:
    """Reference data as Arrow dictionaries plus the weights to draw from them."""

    drug_brand: pa.Array  # sorted by brand, so drug index order is the file's row order
    drug_generic: pa.Array
    drug_cost_per_day: np.ndarray
    drug_days: np.ndarray
    # Alias tables (Walker/Vose), flat: mix m = specialty * brand levels + brand level occupies
    # [m*D, (m+1)*D); a draw is one lookup whatever the number of mixes.
    drug_keep: np.ndarray  # probability of keeping slot k rather than taking its alias
    drug_alias: np.ndarray
    drug_claims: np.ndarray  # flat [s*D + d]: claims multiplier of drug d for specialty s
    specialty: pa.Array
    specialty_cdf: np.ndarray
    specialty_rows: np.ndarray  # typical number of distinct drugs per prescriber
    last_name: pa.Array  # every name, then every name with each suffix of NAME_SUFFIXES
    last_count: int
    last_cdf: np.ndarray
    first_name: pa.Array  # names, then initials "A." .. "Z.", then one empty string
    first_count: int
    first_cdf: np.ndarray
    city_name: pa.Array  # dimension city c, variant k at c*len(CITY_VARIANTS)+k; unlisted after
    city_count: int
    city_cdf: np.ndarray
    city_state: np.ndarray  # state index per dimension city, then per unlisted place
    unlisted_count: int
    state: pa.Array
    state_fips: pa.Array
    state_brand_shift: np.ndarray  # brand log-multiplier shift per state index
    planted: Planted

    @property
    def drug_count(self) -> int:
        return len(self.drug_brand)


def _data_path(name: str):
    return resources.files("healthanalytics") / "data" / name


def _read_rows(name: str) -> list[dict[str, str]]:
    with _data_path(name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def normalise_city(name: str) -> str:
    """The city key the pipeline matches on: upper case, no punctuation, ST/FT/MT spelled out."""
    text = " ".join(re.sub(r"[^\w\s]|_", "", name.upper()).split())
    for short, long in (("ST ", "SAINT "), ("FT ", "FORT "), ("MT ", "MOUNT ")):
        if text.startswith(short):
            text = long + text[len(short) :]
    return text


def cdf(weights: np.ndarray | list[float]) -> np.ndarray:
    """Cumulative shares of `weights`, ending at exactly 1.0 so a draw never runs off the end."""
    total = np.cumsum(weights, dtype=np.float64)
    total /= total[-1]
    total[-1] = 1.0
    return total


def alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias table of `weights`: slot k (chosen uniformly) is kept with probability
    keep[k], else alias[k] is drawn; every index comes out in proportion to its weight."""
    n = len(weights)
    keep = np.asarray(weights, dtype=np.float64) * n / float(np.sum(weights))
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if keep[i] < 1.0]
    large = [i for i in range(n) if keep[i] >= 1.0]
    while small and large:
        less, more = small.pop(), large.pop()
        alias[less] = more
        keep[more] -= 1.0 - keep[less]
        (small if keep[more] < 1.0 else large).append(more)
    keep[small + large] = 1.0  # what is left is 1 up to rounding
    return keep, alias


def _zipf_cdf(count: int) -> np.ndarray:
    # Name lists are in frequency order; a gentle Zipf keeps SMITH common but not dominant.
    return cdf(1.0 / (np.arange(count) + 15.0))


def _swap_prefix(name: str, forms: tuple[tuple[str, str], ...]) -> str:
    for old, new in forms:
        if name.startswith(old):
            return new + name[len(old) :]
    return name


def city_spellings(name: str) -> list[str]:
    """One spelling of `name` per CITY_VARIANTS kind, the way NPPES addresses spell it."""
    upper = name.upper()
    double = upper.replace(" ", "  ", 1) if " " in upper else upper + "  "
    return [
        upper,
        _swap_prefix(upper, _SHORT_FORMS),
        _swap_prefix(upper, _LONG_FORMS),
        name.lower(),
        " " + upper,
        upper + " ",
        double,
    ]


def _unlisted_places(
    known: set[str], names: list[str], weights: np.ndarray, states: np.ndarray
) -> tuple[list[str], list[int]]:
    """Invented towns and misspelt real cities, none of which matches a dimension city."""
    rng = np.random.default_rng(20260101)  # fixed: the pool is part of the catalog, not the run
    places: list[str] = []
    place_states: list[int] = []
    seen: set[str] = set()
    anchors = np.searchsorted(cdf(weights), rng.random(900), side="right")
    for anchor in anchors:
        prefix = (
            "" if rng.random() < 0.6 else _TOWN_PREFIXES[int(rng.integers(len(_TOWN_PREFIXES)))]
        )
        root = _TOWN_ROOTS[int(rng.integers(len(_TOWN_ROOTS)))]
        town = prefix + root + _TOWN_ENDINGS[int(rng.integers(len(_TOWN_ENDINGS)))]
        if rng.random() < 0.04:
            town += _TOWN_COMMA_TAILS[int(rng.integers(len(_TOWN_COMMA_TAILS)))]
        if town not in seen and normalise_city(town) not in known:
            seen.add(town)
            places.append(town)
            place_states.append(int(states[anchor]))
    # Misspellings: one letter dropped from a populous city's name (WORTHINGTON -> WORTINGTON).
    for city in np.argsort(-weights, kind="stable")[:600]:
        name = names[city].upper()
        letters = [i for i in range(1, len(name) - 1) if name[i].isalpha()]
        if len(letters) < 4:
            continue
        cut = letters[int(rng.integers(len(letters)))]
        typo = name[:cut] + name[cut + 1 :]
        if normalise_city(typo) not in known:
            places.append(typo)
            place_states.append(int(states[city]))
    return places, place_states


def _load_drugs(specialties: list[dict[str, str]], planted: Planted) -> dict[str, object]:
    drugs = sorted(_read_rows("drugs.csv"), key=lambda row: row["brand_name"])
    category = [row["category"] for row in drugs]
    weight = np.array([float(row["weight"]) for row in drugs])
    # The analysis' rule: a brand is a product whose brand name is not its generic name.
    brand = np.array([row["brand_name"] != row["generic_name"] for row in drugs])
    multipliers = np.exp(BRAND_STEP * np.arange(-BRAND_LEVELS, BRAND_LEVELS + 1))
    per_mix, claims = [], []
    for row in specialties:
        focus = dict(item.split(":") for item in row["focus"].split()) if planted.focus else {}
        other = float(row["other"]) if planted.focus else 1.0
        boost = np.array([float(focus.get(c, other)) for c in category])
        claims.append(np.where(np.isin(category, list(focus)), planted.focus_claims, 1.0))
        per_mix += [alias_table(weight * boost * np.where(brand, m, 1.0)) for m in multipliers]
    return {
        "drug_brand": pa.array([row["brand_name"] for row in drugs], pa.string()),
        "drug_generic": pa.array([row["generic_name"] for row in drugs], pa.string()),
        "drug_cost_per_day": np.array([float(row["cost_per_day"]) for row in drugs]),
        "drug_days": np.array([int(row["days_per_claim"]) for row in drugs], dtype=np.int64),
        "drug_keep": np.concatenate([keep for keep, _ in per_mix]),
        "drug_alias": np.concatenate([alias for _, alias in per_mix]),
        "drug_claims": np.concatenate(claims),
    }


def _load_names() -> dict[str, object]:
    rows = _read_rows("prescriber_names.csv")
    last = [row["name"] for row in rows if row["kind"] == "last"]
    first = [row["name"] for row in rows if row["kind"] == "first"]
    initials = [f"{chr(code)}." for code in range(ord("A"), ord("Z") + 1)]
    return {
        "last_name": pa.array([name + suffix for suffix in NAME_SUFFIXES for name in last]),
        "last_count": len(last),
        "last_cdf": _zipf_cdf(len(last)),
        "first_name": pa.array([*first, *initials, ""]),
        "first_count": len(first),
        "first_cdf": _zipf_cdf(len(first)),
    }


def _load_places() -> dict[str, object]:
    columns = ["city", "city_ascii", "state_id", "county_fips", "population"]
    dimension = pq.read_table(str(_data_path(DIMENSION_FILE)), columns=columns).to_pydict()
    states = sorted(set(dimension["state_id"]))
    state_index = {code: i for i, code in enumerate(states)}
    fips = {}
    for code, county in zip(dimension["state_id"], dimension["county_fips"], strict=True):
        fips.setdefault(code, f"{county // 1000:02d}")
    pairs = zip(dimension["city"], dimension["city_ascii"], strict=True)
    names = [ascii_name or name for name, ascii_name in pairs]  # NPPES spells cities in ASCII
    city_state = np.array([state_index[code] for code in dimension["state_id"]], dtype=np.int64)
    population = np.maximum(np.array(dimension["population"], dtype=np.float64), 1.0)
    known = {normalise_city(n) for n in dimension["city"]} | {normalise_city(n) for n in names}
    unlisted, unlisted_states = _unlisted_places(known, names, population, city_state)
    spellings = [spelling for name in names for spelling in city_spellings(name)]
    return {
        "city_name": pa.array(spellings + unlisted, pa.string()),
        "city_count": len(names),
        "city_cdf": cdf(population),
        "city_state": np.concatenate([city_state, np.array(unlisted_states, dtype=np.int64)]),
        "unlisted_count": len(unlisted),
        "state": pa.array(states, pa.string()),
        "state_fips": pa.array([fips[code] for code in states], pa.string()),
    }


@cache
def load_catalog(planted: Planted = PLANTED) -> Catalog:
    """The generator's reference data with `planted` structure, read once per process (and
    setting) from the package's data folder."""
    specialties = _read_rows("specialties.csv")
    places = _load_places()
    return Catalog(
        **_load_drugs(specialties, planted),
        specialty=pa.array([row["specialty"] for row in specialties], pa.string()),
        specialty_cdf=cdf(np.array([float(row["weight"]) for row in specialties])),
        specialty_rows=np.array([float(row["drugs_per_prescriber"]) for row in specialties]),
        **_load_names(),
        **places,
        state_brand_shift=planted.state_brand_shift(places["state"].to_pylist()),
        planted=planted,
    )
