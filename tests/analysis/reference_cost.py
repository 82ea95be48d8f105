"""An independent implementation of the cost position and the peer outliers in plain Python,
over the reference's kept lines (tests/reference.py), for comparison with a full run
(docs/RULES.md, The launch analysis, "Cost position" and "Peer outliers")."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from tests.reference import _name


def drug_rows(kept: list[dict]) -> list[dict]:
    """The kept lines summed per prescriber, specialty, brand and generic name (known values;
    None when none is known), as the clean stage sums them."""
    rows: dict[tuple, dict] = {}
    for line in kept:
        key = (line["presc_id"], line["specialty"], _name(line["drug"][0]), _name(line["drug"][1]))
        row = rows.setdefault(key, {"presc_id": key[0], "generic": key[3], "claims": [],
                                    "days": [], "cost": []})  # fmt: skip
        for name, value in (("claims", line["claims"]), ("days", line["supply"]),
                            ("cost", line["cost"])):  # fmt: skip
            if value is not None:
                row[name].append(value)
    for row in rows.values():
        for name in ("claims", "days", "cost"):
            row[name] = sum(row[name]) if row[name] else None
    return list(rows.values())


def weighted_median(pairs: list[tuple[float, float]]) -> float:
    """The median of values weighted by days: the mean of the first value whose cumulative
    days reach half the total and the first that pass it."""
    total = sum(days for _, days in pairs)
    lower = upper = None
    cumulative = 0.0
    for value, days in sorted(pairs):
        cumulative += days
        if lower is None and 2 * cumulative >= total:
            lower = value
        if upper is None and 2 * cumulative > total:
            upper = value
    return (lower + upper) / 2


def prescriber_cost(kept: list[dict], prescribers: list[dict], min_claims: int) -> list[dict]:
    """prescriber_cost's rows from the kept lines and the market's prescribers (specialty,
    state)."""
    rows = drug_rows(kept)
    by_generic = defaultdict(list)
    for r in rows:
        if r["generic"] is not None and (r["days"] or 0) > 0 and r["cost"] is not None:
            by_generic[r["generic"]].append((r["cost"] / r["days"], r["days"]))
    medians = {generic: weighted_median(pairs) for generic, pairs in by_generic.items()}
    per = defaultdict(lambda: {"claims": 0, "days": 0.0, "cost": 0.0, "priced": 0.0,
                               "expected": 0.0})  # fmt: skip
    for r in rows:
        p = per[r["presc_id"]]
        p["claims"] += r["claims"] or 0
        if r["days"] is not None and r["cost"] is not None:
            p["days"] += r["days"]
            p["cost"] += r["cost"]
            if r["days"] > 0 and r["generic"] in medians:
                p["priced"] += r["cost"]
                p["expected"] += r["days"] * medians[r["generic"]]
    places = {p["presc_id"]: p for p in prescribers}
    out = []
    for pid, p in per.items():
        if p["days"] <= 0 or p["cost"] <= 0:
            continue
        out.append(
            {"presc_id": pid, "specialty": places[pid]["specialty"],
             "presc_state": places[pid]["presc_state"], "claims": p["claims"], "days": p["days"],
             "drug_cost": p["cost"], "days_per_dollar": p["days"] / p["cost"],
             "cost_per_day": p["cost"] / p["days"], "eligible": int(p["claims"] >= min_claims),
             "expected_cost": p["expected"],
             "price_index": p["priced"] / p["expected"] if p["expected"] > 0 else None}
        )  # fmt: skip
    peers = defaultdict(list)
    for r in out:
        if r["eligible"] and r["price_index"] is not None:
            peers[r["specialty"]].append(r["price_index"])
    for r in out:
        median = statistics.median(peers[r["specialty"]]) if peers[r["specialty"]] else None
        ok = r["price_index"] is not None and median is not None and median > 0
        r["specialty_price_index"] = r["price_index"] / median if ok else None
    return out


def peer_outliers(prescribers: list[dict], cost: list[dict]) -> list[dict]:
    """peer_outliers' rows: modified z-scores on the log scale within specialty."""
    groups = defaultdict(list)
    for p in prescribers:
        if p["fills"] > 0 and p["specialty"] is not None:
            groups[(p["specialty"], "market_fills")].append((p["presc_id"], p["fills"]))
    for c in cost:
        if c["eligible"] and c["specialty"] is not None and c["cost_per_day"] > 0:
            groups[(c["specialty"], "cost_per_day")].append((c["presc_id"], c["cost_per_day"]))
    out = []
    for (specialty, measure), members in groups.items():
        if len(members) < 30:
            continue
        logs = [math.log(v) for _, v in members]
        centre = statistics.median(logs)
        mad = statistics.median(abs(x - centre) for x in logs)
        if mad == 0:
            continue
        for (pid, value), x in zip(members, logs, strict=True):
            z = 0.6745 * (x - centre) / mad
            if abs(z) > 3.5:
                out.append(
                    {"presc_id": pid, "specialty": specialty, "measure": measure, "value": value,
                     "peer_median": statistics.median(v for _, v in members), "mad": mad,
                     "peers": len(members), "z": z, "direction": "high" if z > 0 else "low"}
                )  # fmt: skip
    return out
