"""An independent, plain-Python implementation of SPEC's reports, for comparing whole outputs.

Written from SPEC.md alone, without the package's transforms, and only for small files.
"""

from __future__ import annotations

import csv
import gzip
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
    "cost": "total_drug_cost", "benes": "bene_count",
}  # fmt: skip
CMS = {
    "npi": "Prscrbr_NPI", "last": "Prscrbr_Last_Org_Name", "first": "Prscrbr_First_Name",
    "city": "Prscrbr_City", "state": "Prscrbr_State_Abrvtn", "brand": "Brnd_Name",
    "generic": "Gnrc_Name", "claims": "Tot_Clms", "supply": "Tot_Day_Suply",
    "cost": "Tot_Drug_Cst", "benes": "Tot_Benes",
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
    if number is not None and not abs(number) < MAX_AMOUNT:
        return False, None
    return ok, number


def _printable(text: str | None) -> str | None:
    """Control characters (Unicode category Cc) become spaces."""
    if text is None:
        return None
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _round_half_up(value: float) -> int:
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def normalise(name: str | None) -> str | None:
    if name is None:
        return None
    text = "".join(ch for ch in name.upper() if not unicodedata.category(ch).startswith(("P", "S")))
    text = " ".join(text.split())
    for short, long in (("ST", "SAINT"), ("FT", "FORT"), ("MT", "MOUNT")):
        if text.startswith(short + " "):
            text = long + text[len(short) :]
    return text


def read_fact(path: Path) -> tuple[list[str], list[list[str | None]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [[_blank(v) for v in row] for row in reader]


def clean(path: Path) -> tuple[list[dict], dict[str, int]]:
    """Kept lines as dicts, and counts per quarantine reason."""
    header, lines = read_fact(path)
    names = COURSE if "npi" in header else CMS
    idx = {key: header.index(col) for key, col in names.items()}
    years_col = next((header.index(c) for c in ("years_of_exp", "year_exp") if c in header), None)
    counts = {"invalid_npi": 0, "missing_drug": 0, "invalid_number": 0, "duplicate_row": 0}
    seen: set[tuple] = set()
    kept = []
    for line in lines:
        npi = (line[idx["npi"]] or "").strip(BLANKS)
        if not re.fullmatch(r"[0-9]{10}", npi):
            counts["invalid_npi"] += 1
            continue
        if line[idx["brand"]] is None:
            counts["missing_drug"] += 1
            continue
        (claims_ok, claims), (benes_ok, _) = _count(line[idx["claims"]]), _count(line[idx["benes"]])
        (supply_ok, supply), (cost_ok, cost) = (_amount(line[idx[k]]) for k in ("supply", "cost"))
        if not (claims_ok and benes_ok and supply_ok and cost_ok):
            counts["invalid_number"] += 1
            continue
        if tuple(line) in seen:
            counts["duplicate_row"] += 1
            continue
        seen.add(tuple(line))
        first, last = (_printable(line[idx[k]]) for k in ("first", "last"))
        parts = [p.strip() for p in (first, last) if p and p.strip()]
        years = None
        if years_col is not None and line[years_col]:
            match = re.search(r"[0-9]+", line[years_col])
            years = int(match.group()) if match else None
        kept.append(
            {
                "presc_id": int(npi),
                "drug": (line[idx["brand"]], line[idx["generic"]]),
                "presc_fullname": " ".join(parts) or None,
                "presc_city": (_printable(line[idx["city"]]) or "").strip().upper(),
                "presc_state": (_printable(line[idx["state"]]) or "").strip().upper(),
                "years_of_exp": years,
                "claims": claims,
                "supply": supply,
                "cost": cost,
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


def city_report(kept: list[dict], cities_path: Path) -> list[dict]:
    dim = pq.read_table(cities_path).to_pylist()
    best: dict[tuple[str, str], dict] = {}
    for row in dim:
        for name in {row["city"], row.get("city_ascii") or row["city"]}:
            key = (row["state_id"], normalise(name))
            current = best.get(key)
            if current is None or row["population"] > current["population"]:
                best[key] = row
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
            }
        )
    return report


def prescriber_report(kept: list[dict], top_n: int = 5, years=(20, 50)) -> list[dict]:
    per: dict[int, dict] = {}
    for line in kept:
        p = per.setdefault(
            line["presc_id"],
            {"presc_id": line["presc_id"], "presc_state": line["presc_state"], "years": [],
             "trx": [], "supply": [], "cost": []},
        )  # fmt: skip
        for key, value in (("years", line["years_of_exp"]), ("trx", line["trx_cnt"]),
                           ("supply", line["supply"]), ("cost", line["cost"])):  # fmt: skip
            if value is not None:
                p[key].append(value)
    by_state = defaultdict(list)
    for p in per.values():
        years_of_exp = max(p["years"]) if p["years"] else None
        if years is not None and (years_of_exp is None or not years[0] <= years_of_exp <= years[1]):
            continue
        trx = sum(p["trx"]) if p["trx"] else None
        if p["presc_state"]:  # no state to rank in
            by_state[p["presc_state"]].append((p["presc_id"], years_of_exp, trx))
    out = []
    for state, people in by_state.items():
        people.sort(key=lambda t: (t[2] is None, -(t[2] or 0), t[0]))
        for rank, (presc_id, years_of_exp, trx) in enumerate(people[:top_n], start=1):
            out.append(
                {"presc_id": presc_id, "presc_state": state, "years_of_exp": years_of_exp,
                 "trx_cnt": trx, "rank": rank}
            )  # fmt: skip
    return out
