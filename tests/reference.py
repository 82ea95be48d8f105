"""An independent, plain-Python implementation of docs/RULES.md's reports, for comparing whole
outputs.

Written from docs/RULES.md alone, without the package's transforms, and only for small files.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
import unicodedata
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow.parquet as pq

COURSE = {
    "npi": "npi", "last": "nppes_provider_last_org_name", "first": "nppes_provider_first_name",
    "city": "nppes_provider_city", "state": "nppes_provider_state", "brand": "drug_name",
    "generic": "generic_name", "claims": "total_claim_count", "supply": "total_day_supply",
    "cost": "total_drug_cost", "benes": "bene_count", "specialty": "specialty_description",
}  # fmt: skip
CMS = {
    "npi": "Prscrbr_NPI", "last": "Prscrbr_Last_Org_Name", "first": "Prscrbr_First_Name",
    "city": "Prscrbr_City", "state": "Prscrbr_State_Abrvtn", "brand": "Brnd_Name",
    "generic": "Gnrc_Name", "claims": "Tot_Clms", "supply": "Tot_Day_Suply",
    "cost": "Tot_Drug_Cst", "benes": "Tot_Benes", "specialty": "Prscrbr_Type",
}  # fmt: skip
# The quarantine's raw_<name> columns, in table order, and the key of each above ("years": the
# experience column, of the course layout only).
QUARANTINE_RAW = {
    "npi": "npi", "last_name": "last", "first_name": "first", "city": "city", "state": "state",
    "specialty": "specialty", "brand_name": "brand", "generic_name": "generic",
    "claims": "claims", "day_supply": "supply", "drug_cost": "cost", "bene_count": "benes",
    "years_of_exp": "years",
}  # fmt: skip


BLANKS = " \t\n\r\x0b\f"
MAX_COUNT, MAX_AMOUNT = 10**9, 10**15


def _blank(value: str | None) -> str | None:
    return None if value is None or value.strip(BLANKS) == "" else value


def _parse(value: str | None) -> tuple[bool, float | None]:
    """(is it a number or blank, its value): plain decimals, exponent form, or digits grouped
    by commas in threes as US spreadsheets write them; anything else is no number."""
    text = (value or "").strip(BLANKS)
    if not text:
        return True, None
    if re.fullmatch(r"[+-]?[1-9][0-9]?[0-9]?(,[0-9][0-9][0-9])+(\.[0-9]*)?", text):
        text = text.replace(",", "")
    if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text):
        return False, None
    return True, float(text)


def _count(value: str | None) -> tuple[bool, int | None]:
    ok, number = _parse(value)
    if not ok or number is None:
        return ok, None
    if not 0 <= number < 2 * MAX_COUNT:  # (and not rounded: 1e308 does not fit a Decimal)
        return False, None
    count = _round_half_up(number)
    return count <= MAX_COUNT, count


def _amount(value: str | None) -> tuple[bool, float | None]:
    ok, number = _parse(value)
    if number is not None and not 0 <= number < MAX_AMOUNT:
        return False, None
    return ok, number


def _printable(text: str | None) -> str | None:
    """Control characters (Unicode category Cc) become spaces."""
    if text is None:
        return None
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _round_half_up(value: float) -> int:
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# Letters Unicode does not decompose into a base letter and accents, written out by hand.
_WHOLE_LETTERS = str.maketrans(
    {"Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Ħ": "H", "ħ": "h", "Ł": "L",
     "ł": "l", "Ŧ": "T", "ŧ": "t", "\u0131": "i", "ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae",
     "Œ": "OE", "œ": "oe", "Ĳ": "IJ", "ĳ": "ij", "Þ": "TH", "þ": "th"}
)  # fmt: skip
SPELLED_OUT = {"ST": "SAINT", "STE": "SAINTE", "FT": "FORT", "MT": "MOUNT"}


def normalise(name: str | None) -> str | None:
    """The matching key of docs/RULES.md (City report): accents dropped, upper case, words split at
    anything not a letter or digit, ST/STE/FT/MT spelled out, words joined without blanks."""
    if name is None:
        return None
    plain = unicodedata.normalize("NFKD", name.translate(_WHOLE_LETTERS))
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch)).upper()
    words = "".join(ch if ch.isalnum() else " " for ch in plain).split()
    return "".join(SPELLED_OUT.get(word, word) for word in words)


# USPS Publication 28, Appendix B: the states, DC and the inhabited territories.
US_CODES = frozenset(
    ("AK", "AL", "AR", "AS", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "GU", "HI", "IA",
     "ID", "IL", "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MP", "MS", "MT",
     "NC", "ND", "NE", "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "PR", "RI", "SC",
     "SD", "TN", "TX", "UT", "VA", "VI", "VT", "WA", "WI", "WV", "WY")
)  # fmt: skip


def read_fact(path: Path, blanks_as_none: bool = True) -> tuple[list[str], list[list[str | None]]]:
    """The header and the lines; blank values as None (or only empty ones, when not
    `blanks_as_none`: the text as read)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if blanks_as_none:
            return header, [[_blank(v) for v in row] for row in reader]
        return header, [[v if v != "" else None for v in row] for row in reader]


def _columns(header: list[str]) -> dict[str, int | None]:
    """Key (see COURSE) -> its column's position in `header`; "years" None when absent."""
    names = COURSE if "npi" in header else CMS
    idx: dict[str, int | None] = {key: header.index(col) for key, col in names.items()}
    idx["years"] = next(
        (header.index(c) for c in ("years_of_exp", "year_exp") if c in header), None
    )
    return idx


def _reasons(lines: list[list[str | None]], idx: dict[str, int | None]) -> list[str | None]:
    """Each line's quarantine reason (None: kept), checked in RULES' order."""
    seen: set[tuple] = set()
    reasons: list[str | None] = []
    for line in lines:
        npi = (line[idx["npi"]] or "").strip(BLANKS)
        numbers_ok = all(_count(line[idx[k]])[0] for k in ("claims", "benes")) and all(
            _amount(line[idx[k]])[0] for k in ("supply", "cost")
        )
        # an experience whose first run of digits is longer than nine digits is no number
        years = line[idx["years"]] if idx["years"] is not None else None
        digits = re.search(r"[0-9]+", years or "")
        numbers_ok = numbers_ok and (digits is None or len(digits.group().lstrip("0")) <= 9)
        if not re.fullmatch(r"[0-9]{10}", npi):
            reasons.append("invalid_npi")
        elif line[idx["brand"]] is None:
            reasons.append("missing_drug")
        elif not numbers_ok:
            reasons.append("invalid_number")
        elif tuple(line) in seen:
            reasons.append("duplicate_row")
        else:
            seen.add(tuple(line))
            reasons.append(None)
    return reasons


def quarantine(path: Path) -> list[dict]:
    """The quarantined lines: reason, then every raw value as read (empty text as None,
    control characters as spaces; None for a column the layout lacks)."""
    header, lines = read_fact(path)
    _, raw_lines = read_fact(path, blanks_as_none=False)
    idx = _columns(header)
    held = []
    for reason, raw in zip(_reasons(lines, idx), raw_lines, strict=True):
        if reason is not None:
            values = {
                f"raw_{name}": None if idx[key] is None else _printable(raw[idx[key]])
                for name, key in QUARANTINE_RAW.items()
            }
            held.append({"reason": reason, **values})
    return held


def clean(path: Path) -> tuple[list[dict], dict[str, int]]:
    """Kept lines as dicts, and counts per quarantine reason."""
    header, lines = read_fact(path)
    idx = _columns(header)
    counts = {"invalid_npi": 0, "missing_drug": 0, "invalid_number": 0, "duplicate_row": 0}
    kept = []
    for reason, line in zip(_reasons(lines, idx), lines, strict=True):
        if reason is not None:
            counts[reason] += 1
            continue
        npi = (line[idx["npi"]] or "").strip(BLANKS)
        first, last = (_printable(line[idx[k]]) for k in ("first", "last"))
        parts = [p.strip() for p in (first, last) if p and p.strip()]
        years = None
        if idx["years"] is not None and line[idx["years"]]:
            match = re.search(r"[0-9]+", line[idx["years"]])
            years = int(match.group()) if match else None
        kept.append(
            {
                "presc_id": int(npi),
                "drug": (line[idx["brand"]], line[idx["generic"]]),
                "presc_fullname": " ".join(parts) or None,
                "presc_city": (_printable(line[idx["city"]]) or "").strip().upper(),
                "presc_state": (_printable(line[idx["state"]]) or "").strip().upper(),
                "years_of_exp": years,
                "claims": _count(line[idx["claims"]])[1],
                "supply": _amount(line[idx["supply"]])[1],
                "cost": _amount(line[idx["cost"]])[1],
                "specialty": (_printable(line[idx["specialty"]]) or "").strip() or None,
            }
        )
    known = defaultdict(list)
    for row in kept:
        if row["claims"] is not None:
            known[row["presc_id"]].append(row["claims"])
    for row in kept:
        values = known.get(row["presc_id"])
        if row["claims"] is not None:
            row["trx_cnt"] = row["claims"]
        elif values:
            row["trx_cnt"] = _round_half_up(sum(values) / len(values))
        else:
            row["trx_cnt"] = None
    return kept, counts


def repeated_drug_lines(kept: list[dict]) -> int:
    """Kept lines whose prescriber and drug (NPI, brand, generic) another kept line shares."""
    lines = defaultdict(int)
    for row in kept:
        lines[(row["presc_id"], row["drug"])] += 1
    return sum(n for n in lines.values() if n > 1)


def city_lookup(cities_path: Path) -> dict[tuple[str, str], dict]:
    """(state, key) -> the dimension row standing for it: the most populous of those giving it."""
    dim = pq.read_table(cities_path).to_pylist()
    best: dict[tuple[str, str], dict] = {}
    for row in dim:
        for name in {row["city"], row.get("city_ascii") or row["city"]}:
            key = (row["state_id"], normalise(name))
            current = best.get(key)
            if key[1] and (current is None or row["population"] > current["population"]):
                best[key] = row
    return best


def city_report(kept: list[dict], cities_path: Path) -> list[dict]:
    best = city_lookup(cities_path)
    totals: dict[int, dict] = {}
    for line in kept:
        row = best.get((line["presc_state"], normalise(line["presc_city"])))
        if row is None:
            continue
        entry = totals.setdefault(id(row), {"row": row, "trx": 0, "presc": set()})
        entry["trx"] += line["trx_cnt"] or 0
        entry["presc"].add(line["presc_id"])
    report = []
    for entry in totals.values():
        row = entry["row"]
        zips = (row["zips"] or "").split()
        report.append(
            {
                "city": row["city"].upper(),
                "state_name": row["state_name"].upper(),
                "county_name": row["county_name"].upper(),
                "population": row["population"],
                "zip_counts": len(zips),
                "trx_counts": entry["trx"],
                "presc_counts": len(entry["presc"]),
                "state_id": row["state_id"],
                "lat": row["lat"],
                "lng": row["lng"],
            }
        )
    return report


def unmatched_cities(kept: list[dict], cities_path: Path, top: int = 100) -> list[dict]:
    """The `top` places (city, state as cleaned; blank as None) with most lines matching no
    city: lines, claims (known ones), distinct prescribers, rank."""
    best = city_lookup(cities_path)
    places: dict[tuple, dict] = {}
    for line in kept:
        if (line["presc_state"], normalise(line["presc_city"])) in best:
            continue
        place = (line["presc_city"] or None, line["presc_state"] or None)
        entry = places.setdefault(place, {"lines": 0, "claims": 0, "presc": set()})
        entry["lines"] += 1
        entry["claims"] += line["trx_cnt"] or 0
        entry["presc"].add(line["presc_id"])
    order = sorted(
        places.items(),
        key=lambda item: (-item[1]["lines"], -item[1]["claims"], item[0][1] is None,
                          item[0][1] or "", item[0][0] is None, item[0][0] or ""),
    )  # fmt: skip
    return [
        {"presc_city": city, "presc_state": state, "lines": e["lines"], "claims": e["claims"],
         "prescribers": len(e["presc"]), "rank": rank}
        for rank, ((city, state), e) in enumerate(order[:top], start=1)
    ]  # fmt: skip


def _prescribers(kept: list[dict]) -> dict[int, dict]:
    """Per prescriber: its lines' states, experience, claims, supply and cost (known values)."""
    per: dict[int, dict] = {}
    for line in kept:
        p = per.setdefault(
            line["presc_id"],
            {"presc_id": line["presc_id"], "names": [], "states": [], "years": [], "trx": [],
             "supply": [], "cost": []},
        )  # fmt: skip
        for key, value in (("names", line["presc_fullname"]),
                           ("states", line["presc_state"] or None),
                           ("years", line["years_of_exp"]), ("trx", line["trx_cnt"]),
                           ("supply", line["supply"]), ("cost", line["cost"])):  # fmt: skip
            if value is not None:
                p[key].append(value)
    for p in per.values():
        # its US state or territory (the last alphabetically), else its last other code
        us = [s for s in p["states"] if s in US_CODES]
        p["state"] = max(us or p["states"], default=None)
    return per


def prescriber_report(kept: list[dict], top_n: int = 5, years=(20, 50)) -> list[dict]:
    by_state = defaultdict(list)
    for p in _prescribers(kept).values():
        years_of_exp = max(p["years"]) if p["years"] else None
        if years is not None and (years_of_exp is None or not years[0] <= years_of_exp <= years[1]):
            continue
        # ranked only in a US state or territory, and only with a known claim count
        if p["state"] in US_CODES and p["trx"]:
            by_state[p["state"]].append((-sum(p["trx"]), p["presc_id"], years_of_exp, p))
    out = []
    for state, people in by_state.items():
        for rank, (_, presc_id, years_of_exp, p) in enumerate(sorted(people)[:top_n], start=1):
            out.append(
                {"presc_id": presc_id, "presc_fullname": max(p["names"], default=None),
                 "presc_state": state, "country_name": "USA", "years_of_exp": years_of_exp,
                 "trx_cnt": sum(p["trx"]), "total_day_supply": _total(p["supply"]),
                 "total_drug_cost": _total(p["cost"]), "rank": rank}
            )  # fmt: skip
    return out


def _total(values: list[float]) -> float | None:
    return sum(values) if values else None


def unranked_counts(kept: list[dict]) -> dict[str, int]:
    """The pipeline_runs counts of what the prescriber report cannot rank."""
    per = _prescribers(kept).values()
    outside = [p for p in per if p["state"] and p["state"] not in US_CODES]
    lines = [line for line in kept if line["presc_state"] and line["presc_state"] not in US_CODES]
    no_claims = [p for p in per if p["state"] in US_CODES and not p["trx"]]
    return {
        "prescribers_outside_states": len(outside),
        "lines_outside_states": len(lines),
        "prescribers_without_claims": len(no_claims),
    }


# --- the launch analysis (docs/RULES.md, The launch analysis) ---------------------------------


def _name(text: str | None) -> str | None:
    return (_printable(text) or "").strip().upper() or None


def market_prescribers(kept: list[dict], in_market) -> list[dict]:
    """Every prescriber: specialty (of most lines, ties A-Z, blank last), state, market lines,
    known claims, fills (day supply / 30), cost, decile and specialty decile. `in_market` tells
    whether a generic name (as cleaned) is in the basket."""
    per: dict[int, dict] = {}
    specialties: dict[int, dict] = defaultdict(lambda: defaultdict(int))
    for line in kept:
        pid = line["presc_id"]
        specialties[pid][line["specialty"]] += 1
        p = per.setdefault(pid, {"presc_id": pid, "lines": 0, "claims": 0, "days": 0.0,
                                 "drug_cost": 0.0})  # fmt: skip
        if in_market(_name(line["drug"][1])):
            p["lines"] += 1
            p["claims"] += line["claims"] or 0
            p["days"] += line["supply"] or 0.0
            p["drug_cost"] += line["cost"] or 0.0
    states = _prescribers(kept)
    for pid, p in per.items():
        counts = specialties[pid]
        p["specialty"] = sorted(counts, key=lambda s: (-counts[s], s is None, s or ""))[0]
        p["presc_state"] = states[pid]["state"]
    _deciles(list(per.values()), "decile")
    by_specialty = defaultdict(list)
    for p in per.values():
        by_specialty[p["specialty"]].append(p)
    for group in by_specialty.values():
        _deciles(group, "specialty_decile")
    return [
        {"presc_id": p["presc_id"], "specialty": p["specialty"], "presc_state": p["presc_state"],
         "lines": p["lines"], "claims": p["claims"], "fills": p["days"] / 30,
         "drug_cost": p["drug_cost"], "decile": p["decile"],
         "specialty_decile": p["specialty_decile"]}
        for p in per.values()
    ]  # fmt: skip


def _deciles(group: list[dict], column: str) -> None:
    """Largest first; each writer's decile from where its cumulative volume starts, ties
    together: 10 - floor(10 x volume of larger writers / all volume); 0 without volume."""
    total = sum(p["days"] for p in group if p["days"] > 0)
    for p in group:
        if p["days"] <= 0:
            p[column] = 0
            continue
        larger = sum(q["days"] for q in group if q["days"] > p["days"])
        p[column] = 10 - math.floor(10 * larger / total)


def market_deciles(prescribers: list[dict]) -> list[dict]:
    total_fills = sum(p["fills"] for p in prescribers)
    out = []
    for decile in sorted({p["decile"] for p in prescribers}, reverse=True):
        members = sorted(p["fills"] for p in prescribers if p["decile"] == decile)
        fills = sum(members)
        from_top = sum(p["fills"] for p in prescribers if p["decile"] >= decile)
        n = len(members)
        out.append(
            {"decile": decile, "prescribers": n, "prescribers_share": n / len(prescribers),
             "fills": fills, "fills_share": fills / total_fills if total_fills else None,
             "cumulative_share": from_top / total_fills if total_fills else None,
             "claims": sum(p["claims"] for p in prescribers if p["decile"] == decile),
             "min_fills": members[0], "median_fills": (members[(n - 1) // 2] + members[n // 2]) / 2,
             "max_fills": members[-1]}
        )  # fmt: skip
    return out


def market_specialties(prescribers: list[dict]) -> list[dict]:
    """Per specialty (blank: its own group): writers (fills > 0), all prescribers, penetration,
    fills, known claims, share of the market's fills, the writers' median fills (the mean of the
    middle two; None without writers), writers in deciles 8-10. No rank (see the test)."""
    groups: dict[str | None, list[dict]] = defaultdict(list)
    for p in prescribers:
        groups[p["specialty"]].append(p)
    total = sum(p["fills"] for p in prescribers)
    out = []
    for specialty, members in groups.items():
        written = sorted(p["fills"] for p in members if p["fills"] > 0)
        n = len(written)
        fills = sum(p["fills"] for p in members)
        out.append(
            {"specialty": specialty, "writers": n, "prescribers": len(members),
             "penetration": n / len(members), "fills": fills,
             "claims": sum(p["claims"] for p in members),
             "fills_share": fills / total if total else None,
             "median_fills_per_writer": (written[(n - 1) // 2] + written[n // 2]) / 2
             if n else None,
             "high_decile_writers": sum(1 for p in members if p["fills"] > 0
                                        and p["decile"] >= 8)}
        )  # fmt: skip
    return out


RELEASE_WORDS = {"ER", "XR", "XL", "SR", "CR", "DR", "LA", "CD", "EC", "ODT", "HFA", "12HR", "24HR",
                 "CAPSULE", "CREAM", "PASTE"}  # fmt: skip


def _product_type(brand: str, generic: str, key) -> str:
    """generic when the brand name is the generic name or, its trailing release/form words
    dropped one by one, has the generic name's ingredient key (`key`; docs/RULES.md, Products)."""
    words = brand.split()
    while len(words) > 1 and words[-1] in RELEASE_WORDS:
        words.pop()
    base = key(" ".join(words))
    return "generic" if brand == generic or (base is not None and base == key(generic)) else "brand"


def market_products(kept: list[dict], in_market, key) -> list[dict]:
    per: dict[tuple, dict] = {}
    for line in kept:
        brand, generic = _name(line["drug"][0]), _name(line["drug"][1])
        if not in_market(generic):
            continue
        p = per.setdefault(
            (brand, generic),
            {
                "lines": 0,
                "claims": 0,
                "claims_unknown": 0,
                "days": 0.0,
                "drug_cost": 0.0,
                "writers": set(),
            },
        )
        p["lines"] += 1
        p["claims"] += line["claims"] or 0
        p["claims_unknown"] += line["claims"] is None
        p["days"] += line["supply"] or 0.0
        p["drug_cost"] += line["cost"] or 0.0
        p["writers"].add(line["presc_id"])
    fills = sum(p["days"] for p in per.values()) / 30
    cost = sum(p["drug_cost"] for p in per.values())
    return [
        {"brand_name": brand, "generic_name": generic,
         "product_type": _product_type(brand, generic, key), "lines": p["lines"],
         "claims": p["claims"], "claims_unknown": p["claims_unknown"], "fills": p["days"] / 30,
         "drug_cost": p["drug_cost"], "writers": len(p["writers"]),
         "fills_share": p["days"] / 30 / fills if fills else None,
         "cost_share": p["drug_cost"] / cost if cost else None}
        for (brand, generic), p in per.items()
    ]  # fmt: skip


def market_concentration(prescribers: list[dict], products: list[dict]) -> dict:
    """HHI of the products' fill shares (percent squared) and the top 1/5/10 % of writers'
    share of fills (ceil of the share of writers)."""
    volumes = sorted((p["fills"] for p in prescribers if p["fills"] > 0), reverse=True)
    total = sum(volumes)
    out = {"hhi": sum((100 * p["fills_share"]) ** 2 for p in products) if total else None}
    for percent in (1, 5, 10):
        top = math.ceil(len(volumes) * percent / 100)
        out[f"top_{percent}pct_fills_share"] = sum(volumes[:top]) / total if total else None
    return out


def _dimension_order(row: dict) -> tuple:
    """The order in which the stage numbers the dimension's cities (city_id): state, city,
    county FIPS, lat, lng, county name, population, ASCII name, state name, ZIPs; nulls last."""
    names = ("state_id", "city", "county_fips", "lat", "lng", "county_name", "population",
             "city_ascii", "state_name", "zips")  # fmt: skip
    return tuple((row.get(n) is None, row.get(n) if row.get(n) is not None else 0) for n in names)


def market_geography(kept: list[dict], prescribers: list[dict], cities_path: Path) -> list[dict]:
    """Per state and per dimension city: the market's fills, claims, writers, writers in deciles
    8-10, fills per 1,000 residents raw and empirical-Bayes shrunk (Clayton & Kaldor 1987;
    Marshall 1991 moments; within each level), index and opportunity rank. A prescriber's city:
    the city its lines in its own state match most often (ties: the first in the dimension's
    order); no city: its state only; no state: nowhere. Without city_id (the stage numbers the
    dimension)."""
    best = city_lookup(cities_path)
    dim = pq.read_table(cities_path).to_pylist()
    state_of = {p["presc_id"]: p["presc_state"] for p in prescribers}
    votes: dict[int, dict[tuple, list]] = defaultdict(dict)
    for line in kept:
        state = state_of[line["presc_id"]]
        row = best.get((line["presc_state"], normalise(line["presc_city"])))
        if state is None or row is None or line["presc_state"] != state:
            continue
        vote = votes[line["presc_id"]].setdefault(_dimension_order(row), [0, row])
        vote[0] += 1
    city_of = {
        pid: _dimension_order(min(rows.values(), key=lambda v: (-v[0], _dimension_order(v[1])))[1])
        for pid, rows in votes.items()
    }

    def demand(members: list[dict]) -> dict:
        return {"fills": sum(p["fills"] for p in members),
                "claims": sum(p["claims"] for p in members),
                "writers": sum(1 for p in members if p["fills"] > 0),
                "high_decile_writers": sum(1 for p in members
                                           if p["fills"] > 0 and p["decile"] >= 8)}  # fmt: skip

    in_state: dict[str, list[dict]] = defaultdict(list)
    in_city: dict[tuple, list[dict]] = defaultdict(list)
    for p in prescribers:
        if p["presc_state"] is not None:
            in_state[p["presc_state"]].append(p)
        if p["presc_id"] in city_of:
            in_city[city_of[p["presc_id"]]].append(p)
    populations: dict[str, list[int]] = defaultdict(list)
    for row in dim:
        populations[row["state_id"]].append(row["population"])
    states = []
    for state in set(populations) | set(in_state):
        known = [n for n in populations.get(state, []) if n is not None]
        states.append({"level": "state", "state_id": state, "city": None,
                       "population": sum(known) if known else None,
                       **demand(in_state.get(state, [])), "_order": ()})  # fmt: skip
    towns = [
        {"level": "city", "state_id": row["state_id"], "city": row["city"],
         "population": row["population"], **demand(in_city.get(_dimension_order(row), [])),
         "_order": _dimension_order(row)}
        for row in dim
    ]  # fmt: skip
    out = []
    for areas in (states, towns):
        counted = [a for a in areas if a["population"]]
        total_pop = sum(a["population"] for a in counted)
        r = sum(a["fills"] for a in counted) / total_pop
        s2 = sum(a["population"] * (a["fills"] / a["population"] - r) ** 2 for a in counted)
        v = max(s2 / total_pop - r / (total_pop / len(counted)), 1e-12)
        for a in areas:
            if not a["population"]:
                a.update(fills_per_1000=None, fills_per_1000_shrunk=None, index=None)
                continue
            raw = a["fills"] / a["population"]
            b = v / (v + r / a["population"])
            shrunk = raw * b + r * (1 - b)
            a.update(fills_per_1000=1000 * raw, fills_per_1000_shrunk=1000 * shrunk,
                     index=shrunk / r if r else None)  # fmt: skip
        areas.sort(key=lambda a: (a["index"] is None, -(a["index"] or 0), -a["fills"],
                                  a["state_id"], a["_order"]))  # fmt: skip
        for rank, a in enumerate(areas, 1):
            a["opportunity_rank"] = rank
            del a["_order"]
        out.extend(areas)
    return out
