"""One chunk of synthetic prescriber-by-drug rows, built with whole-array NumPy and Arrow kernels.

A chunk is a run of whole prescribers in ascending NPI order, each with distinct drugs in
brand-name order, like the real CMS file. Everything random comes from the chunk's own generator,
so a chunk is the same whichever process builds it and whenever. The catalog's `planted` settings
(`structure.py`) give prescribers their specialty focus, volume propensity and brand uptake.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthanalytics.generate.catalog import CITY_VARIANT_SHARES, CITY_VARIANTS, Catalog, cdf
from healthanalytics.generate.columns import LAYOUT_COLUMNS, MONEY, schema
from healthanalytics.generate.npi import with_check_digit
from healthanalytics.generate.structure import BRAND_LEVELS, BRAND_STEP

ROWS_PER_PRESCRIBER = 25.0
MAX_DRUG_SHARE = 0.7  # of the catalog, so distinct drugs per prescriber can always be found
MIN_CLAIMS = 11  # CMS leaves out prescriber-drug pairs with fewer claims
BLANK_CLAIMS_RATE = 0.02
UNLISTED_PLACE_RATE = 0.03

_FLAGS = pa.array(["", "*", "#"])  # none, value 1-10 hidden, hidden so another cannot be derived
_SOURCES = pa.array(["S", "T"])
_YEARS = pa.array([f"= {years}.0" for years in range(61)])
_EMPTY = pa.array([""])
_SUFFIX_CDF = cdf([0.975, 0.012, 0.005, 0.005, 0.003])  # none, ", JR", ", SR", ", III", ", II"
_FIRST_KIND_CDF = cdf([0.97, 0.025, 0.005])  # full first name, an initial, missing
_VARIANT_CDF = cdf(CITY_VARIANT_SHARES)


@dataclass(frozen=True)
class ChunkPlan:
    """What one chunk holds: its rows, its slice of NPI bases and its dirty rows by kind."""

    index: int
    rows: int
    npi_low: int
    npi_high: int
    duplicate_row: int
    missing_drug: int
    invalid_npi: int


@dataclass(frozen=True)
class Chunk:
    """A built chunk: the table in the plan's layout and what went into it."""

    table: pa.Table
    prescribers: int
    dirty: dict[str, int]


def chunk_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of chunk `index`: independent of every other chunk and of timing."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def _draw(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    return np.searchsorted(cdf, rng.random(size), side="right")


def _loaded(rng: np.random.Generator, z: np.ndarray, sigma: float, loading: float) -> np.ndarray:
    """Lognormal factors of mean 1 and log-sigma `sigma` whose normal part loads `z` by
    `loading` (the rest independent noise)."""
    normal = loading * z + np.sqrt(1.0 - loading**2) * rng.standard_normal(len(z))
    return np.exp(sigma * normal - 0.5 * sigma**2)


def _draw_prescribers(
    rng: np.random.Generator, cat: Catalog, rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Specialty, drug count and volume propensity z of just enough prescribers to fill `rows`
    rows."""
    planted = cat.planted
    shares = np.diff(cat.specialty_cdf, prepend=0.0)
    # The cap trims the lognormal's tail more than rounding small counts up to 1 adds back.
    scale = ROWS_PER_PRESCRIBER / float(shares @ cat.specialty_rows) * 1.035
    cap = int(MAX_DRUG_SHARE * cat.drug_count)
    specialties, counts, propensities, total = [], [], [], 0
    while total < rows:
        size = int(rows / ROWS_PER_PRESCRIBER * 1.1) + 16
        specialty = _draw(rng, cat.specialty_cdf, size)
        z = rng.standard_normal(size)
        spread = _loaded(rng, z, planted.rows_sigma, planted.propensity)
        count = np.clip(np.rint(cat.specialty_rows[specialty] * scale * spread), 1, cap)
        specialties.append(specialty)
        counts.append(count.astype(np.int64))
        propensities.append(z)
        total += int(counts[-1].sum())
    specialty, count = np.concatenate(specialties), np.concatenate(counts)
    ends = np.cumsum(count)
    last = int(np.searchsorted(ends, rows))
    count = count[: last + 1]
    count[last] -= int(ends[last]) - rows  # the chunk edge cuts the last prescriber's list short
    return specialty[: last + 1], count, np.concatenate(propensities)[: last + 1]


def _draw_drugs(rng: np.random.Generator, cat: Catalog, mix: np.ndarray) -> np.ndarray:
    # One uniform per draw: its whole part picks the slot of mix's alias table, its fraction
    # whether the slot or its alias is taken.
    d = cat.drug_count
    spot = rng.random(len(mix)) * d
    slot = np.minimum(spot.astype(np.int64), d - 1)
    at = mix * d + slot
    return np.where(spot - slot < cat.drug_keep[at], slot, cat.drug_alias[at])


def _distinct_drugs(
    rng: np.random.Generator, cat: Catalog, mix: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Sorted keys prescriber * D + drug: `counts[p]` distinct drugs for each prescriber p,
    drawn from the cdf `mix[p]` (its specialty and brand level)."""
    d = cat.drug_count
    prescriber = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    keys = prescriber * d + _draw_drugs(rng, cat, mix[prescriber])
    keys.sort()
    # Redraw repeats within the prescribers that have them, narrowing to those each round;
    # whole prescribers stay in their places, so the keys stay sorted.
    rows = np.arange(len(keys))
    sub = keys
    repeated = np.zeros(len(counts), dtype=bool)
    for attempt in range(1000):
        same = sub[1:] == sub[:-1]
        if not same.any():
            return keys
        repeated[:] = False
        repeated[sub[1:][same] // d] = True
        inside = repeated[sub // d]
        rows, sub = rows[inside], sub[inside]
        dup = np.flatnonzero(sub[1:] == sub[:-1]) + 1
        who = sub[dup] // d
        # A few rounds keep the specialty's preferences; then any drug, so long lists finish.
        fresh = _draw_drugs(rng, cat, mix[who]) if attempt < 4 else rng.integers(0, d, len(who))
        sub[dup] = who * d + fresh
        sub.sort()
        keys[rows] = sub
    raise RuntimeError("could not draw distinct drugs per prescriber")


def _money(cents: np.ndarray, hidden: np.ndarray | None = None) -> pa.Array:
    """Decimal(18, 2) from integer cents; Arrow prints it with exactly two decimals."""
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63  # sign extension into the high half of the 128-bit value
    validity = None if hidden is None else pa.array(~hidden).buffers()[1]
    nulls = -1 if hidden is None else int(hidden.sum())
    return pa.Array.from_buffers(MONEY, len(cents), [validity, pa.py_buffer(words)], nulls)


def _ints(values: np.ndarray, hidden: np.ndarray | None = None) -> pa.Array:
    return pa.array(values, pa.int64(), mask=hidden)


def _take(dictionary: pa.Array, index: np.ndarray) -> pa.Array:
    return dictionary.take(pa.array(index, pa.int64()))


def _suppression(part: np.ndarray, rest: np.ndarray, total_shown: np.ndarray) -> np.ndarray:
    """Flag code of a 65+ value: `*` when it is 1-10, `#` when the rest is 1-10 and derivable."""
    small = (part >= 1) & (part <= 10)
    derivable = total_shown & (rest >= 1) & (rest <= 10)
    return np.where(small, 1, np.where(derivable, 2, 0))


def _invalid_npis(rng: np.random.Generator, npis: np.ndarray) -> pa.Array:
    """Broken NPIs: nine digits, eleven digits, a letter for a digit, or empty."""
    k = len(npis)
    text = pc.cast(pa.array(npis), pa.string())
    variants = pa.concat_arrays([
        pc.cast(pa.array(npis // 10), pa.string()),
        pc.cast(pa.array(npis * 10 + rng.integers(0, 10, k)), pa.string()),
        pc.utf8_replace_slice(text, start=6, stop=7, replacement="O"),
        pa.array([""] * k, pa.string()),
    ])  # fmt: skip
    return _take(variants, rng.integers(0, 4, k) * k + np.arange(k))


@dataclass(frozen=True)
class _Prescribers:
    """Per-prescriber draws; rows pick theirs by prescriber number."""

    specialty: np.ndarray
    mix: np.ndarray  # specialty * brand levels + brand level: which drug cdf it draws from
    counts: np.ndarray  # rows (distinct drugs) of each prescriber
    npis: np.ndarray
    last: np.ndarray  # indexes into the catalog's string dictionaries
    first: np.ndarray
    place: np.ndarray
    state: np.ndarray
    source: np.ndarray
    years: np.ndarray
    volume: np.ndarray  # busy prescribers have more claims on every drug (and more drugs)
    old_share: np.ndarray  # share of the prescriber's patients aged 65 or more


def _draw_people(
    rng: np.random.Generator, cat: Catalog, plan: ChunkPlan, rows: int
) -> _Prescribers:
    """Who the chunk's prescribers are, where they practise and since when."""
    planted = cat.planted
    specialty, counts, z = _draw_prescribers(rng, cat, rows)
    m = len(counts)
    span = plan.npi_high - plan.npi_low
    if m > span:
        raise ValueError(f"chunk {plan.index} needs {m} NPIs but its range holds {span}")
    npis = with_check_digit(plan.npi_low + np.sort(rng.choice(span, m, replace=False)))
    suffix = _draw(rng, _SUFFIX_CDF, m)
    last = _draw(rng, cat.last_cdf, m) + cat.last_count * suffix
    first_kind = _draw(rng, _FIRST_KIND_CDF, m)
    first = np.select(
        [first_kind == 0, first_kind == 1],
        [_draw(rng, cat.first_cdf, m), cat.first_count + rng.integers(0, 26, m)],
        cat.first_count + 26,
    )
    city = _draw(rng, cat.city_cdf, m)
    variant = _draw(rng, _VARIANT_CDF, m)
    unlisted = rng.random(m) < UNLISTED_PLACE_RATE
    pick = rng.integers(0, cat.unlisted_count, m)
    variants = len(CITY_VARIANTS)
    state = cat.city_state[np.where(unlisted, cat.city_count + pick, city)]
    brand = cat.state_brand_shift[state] + planted.brand_spread * rng.standard_normal(m)
    level = np.clip(np.rint(brand / BRAND_STEP), -BRAND_LEVELS, BRAND_LEVELS).astype(np.int64)
    return _Prescribers(
        specialty=specialty,
        mix=specialty * (2 * BRAND_LEVELS + 1) + level + BRAND_LEVELS,
        counts=counts,
        npis=npis,
        last=last,
        first=first,
        place=np.where(unlisted, cat.city_count * variants + pick, city * variants + variant),
        state=state,
        source=(rng.random(m) < 0.06).astype(np.int64),
        years=1 + np.floor(59 * rng.beta(1.7, 2.6, m)).astype(np.int64),
        volume=_loaded(rng, z, planted.volume_sigma, planted.propensity),
        # A fifth mostly treat younger (disabled) beneficiaries: hence the `*` on 65+ columns.
        old_share=np.where(rng.random(m) < 0.2, rng.beta(2.0, 3.0, m), rng.beta(8.0, 1.2, m)),
    )


def _draw_measures(
    rng: np.random.Generator, cat: Catalog, people: _Prescribers, p: np.ndarray, drug: np.ndarray
) -> dict[str, np.ndarray]:
    """Claims, fills, day supply, cost and beneficiaries of each row, all and aged 65+."""
    size = len(p)
    days = cat.drug_days[drug]
    monthly = (days >= 28) & (days <= 30)
    volume = people.volume[p] * cat.drug_claims[people.specialty[p] * cat.drug_count + drug]
    claims = MIN_CLAIMS + np.floor(volume * rng.lognormal(np.log(12.0), 1.0, size))
    claims = np.minimum(claims, 50_000).astype(np.int64)
    ninety = np.where(monthly, rng.beta(1.0, 2.5, size), 0.0)  # share of 90-day fills
    fills = np.rint(claims * (1.0 + 2.0 * ninety) * 10).astype(np.int64)  # tenths
    fills = np.where(rng.random(size) < 0.55, np.rint(fills / 10).astype(np.int64) * 10, fills)
    supply = np.where(
        monthly,
        np.rint(fills * 3.0 * rng.uniform(0.9, 1.0, size)),
        np.rint(claims * days * rng.lognormal(0.0, 0.2, size)),
    ).astype(np.int64)
    supply = np.maximum(supply, claims)
    fills = np.where(
        monthly, fills, np.maximum(claims * 10, np.rint(supply / 3.0)).astype(np.int64)
    )
    cost = cat.drug_cost_per_day[drug] * rng.lognormal(-0.04, 0.3, size)
    cents = np.maximum(np.rint(supply * cost * 100), 1).astype(np.int64)
    per_bene = np.where(
        days >= 28,
        rng.lognormal(np.log(4.5), 0.45, size) / (1.0 + ninety),
        rng.lognormal(np.log(1.2), 0.15, size),
    )
    benes = np.maximum(np.rint(claims / np.maximum(per_bene, 1.0)), 1).astype(np.int64)
    share = np.where(
        rng.random(size) < 0.35 * people.old_share[p],  # all of this drug's patients are 65+
        1.0,
        np.clip(people.old_share[p] + rng.normal(0.0, 0.06, size), 0.0, 1.0),
    )
    old_claims = np.rint(claims * share).astype(np.int64)
    old_benes = np.rint(benes * share).astype(np.int64)
    return {
        "claims": claims,
        "fills": fills,
        "supply": supply,
        "cents": cents,
        "benes": benes,
        "share": share,
        "old_claims": old_claims,
        "old_benes": old_benes,
        "claim_flag": _suppression(old_claims, claims - old_claims, np.ones(size, dtype=bool)),
        "bene_flag": _suppression(old_benes, benes - old_benes, benes >= MIN_CLAIMS),
        "blank_claims": rng.random(size) < BLANK_CLAIMS_RATE,
    }


def _place_dirt(
    rng: np.random.Generator, plan: ChunkPlan, people: _Prescribers, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows given a broken NPI, rows losing their brand, and the row order with duplicates:
    each a copy of a clean row up to three rows back in the same prescriber, placed after it."""
    size = len(p)
    bad = rng.choice(size, plan.invalid_npi + plan.missing_drug, replace=False)
    invalid, missing = bad[: plan.invalid_npi], bad[plan.invalid_npi :]
    clean = np.ones(size, dtype=bool)
    clean[bad] = False
    after = np.sort(rng.choice(np.flatnonzero(clean), plan.duplicate_row, replace=False))
    first_row = (np.cumsum(people.counts) - people.counts)[p[after]]
    source_row = np.maximum(after - rng.integers(0, 4, len(after)), first_row)
    source_row = np.where(clean[source_row], source_row, after)
    return invalid, missing, np.insert(np.arange(size), after + 1, source_row)


def build_chunk(plan: ChunkPlan, seed: int, layout: str, cat: Catalog) -> Chunk:
    """The rows of one chunk as an Arrow table in `layout`."""
    rng = chunk_rng(seed, plan.index)
    base = plan.rows - plan.duplicate_row  # duplicates are inserted last
    people = _draw_people(rng, cat, plan, base)
    keys = _distinct_drugs(rng, cat, people.mix, people.counts)
    p, drug = keys // cat.drug_count, keys % cat.drug_count
    measures = _draw_measures(rng, cat, people, p, drug)
    invalid, missing, order = _place_dirt(rng, plan, people, p)

    npi_index = p.copy()
    npi_index[invalid] = len(people.npis) + np.arange(len(invalid))
    npi_text = pa.concat_arrays([
        pc.cast(pa.array(people.npis), pa.string()),
        _invalid_npis(rng, people.npis[p[invalid]]),
    ])  # fmt: skip
    brand_index = drug.copy()
    brand_index[missing] = cat.drug_count
    p, drug = p[order], drug[order]
    row = {name: values[order] for name, values in measures.items()}
    hidden, hidden_benes = row["claim_flag"] != 0, row["bene_flag"] != 0
    columns = {
        "npi": _take(npi_text, npi_index[order]),
        "last_name": _take(cat.last_name, people.last[p]),
        "first_name": _take(cat.first_name, people.first[p]),
        "city": _take(cat.city_name, people.place[p]),
        "state": _take(cat.state, people.state[p]),
        "state_fips": _take(cat.state_fips, people.state[p]),
        "specialty": _take(cat.specialty, people.specialty[p]),
        "specialty_source": _take(_SOURCES, people.source[p]),
        "brand_name": _take(pa.concat_arrays([cat.drug_brand, _EMPTY]), brand_index[order]),
        "generic_name": _take(cat.drug_generic, drug),
        "bene_count": _ints(row["benes"], row["benes"] < MIN_CLAIMS),
        "claims": _ints(row["claims"], row["blank_claims"]),
        "fills": pa.array(row["fills"] / 10.0),
        "day_supply": _ints(row["supply"]),
        "drug_cost": _money(row["cents"]),
        "ge65_bene_count": _ints(row["old_benes"], hidden_benes),
        "ge65_bene_flag": _take(_FLAGS, row["bene_flag"]),
        "ge65_claims": _ints(row["old_claims"], hidden),
        "ge65_flag": _take(_FLAGS, row["claim_flag"]),
        "ge65_fills": pa.array(np.rint(row["fills"] * row["share"]) / 10.0, mask=hidden),
        "ge65_day_supply": _ints(np.rint(row["supply"] * row["share"]).astype(np.int64), hidden),
        "ge65_drug_cost": _money(np.rint(row["cents"] * row["share"]).astype(np.int64), hidden),
        "years_of_exp": _take(_YEARS, people.years[p]),
    }
    table = pa.Table.from_arrays(
        [columns[column] for _, column in LAYOUT_COLUMNS[layout]], schema=schema(layout)
    )
    dirty = {
        "duplicate_row": len(order) - base,
        "missing_drug": len(missing),
        "invalid_npi": len(invalid),
        "blank_claims": int(row["blank_claims"].sum()),
    }
    return Chunk(table, len(people.counts), dirty)
