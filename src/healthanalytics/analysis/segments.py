"""City segmentation (docs/RULES.md, The launch analysis, "City segments"; issue 15 item 5).

Three steps:

1. `city_features` (pure Ibis, any engine): one row per dimension city with a population above
   0 and at least one prescriber of lines outside the market located there (a prescriber's
   city as `geography.prescriber_cities` gives it), with the features in original units. The
   market's own lines are never read: the lookalike model uses the segment as a feature, and
   changing the market's claims must change no feature.
2. `segment_cities` (scikit-learn, on the driver, over the compact city table): the features
   log-transformed and standard-scaled (`StandardScaler`), k-means (`KMeans`: Lloyd from
   k-means++ seeds) for k = 2..8 (bounded by the cities), k chosen by the rules below, the
   segments ordered by demand and named from their figures.
3. `segment_profiles` (pure Ibis): the segments' figures with the market's fills of the
   prescribers located in their cities (descriptive only: never a clustering feature).

`stages/segments.py` wires them (the model's results go back to the engine as memtables);
`prescriber_segments` gives each prescriber its city's segment, for the lookalike model.

Choosing k: for each k the mean silhouette (scikit-learn's `silhouette_score`, Euclidean, on
all the cities, or on its sample of SILHOUETTE_SAMPLE drawn with SAMPLE_SEED when there are
more), the smallest segment's share of the cities and the stability (the mean
`adjusted_rand_score` between the fits of SEEDS, one `KMeans` fit with `n_init=1` per seed) are
kept. Among the k whose smallest
segment holds at least MIN_SEGMENT_SHARE of the cities and whose stability is at least
MIN_STABILITY, the highest silhouette wins (ties: the smaller k). When no k meets both, the
highest silhouette among those meeting the share alone; when none meets the share, the k with
the largest smallest segment (ties: the smaller k). So a handful of mega-cities never make a
segment of their own (the brief's k = 3 on raw counts did: clusters of 10,474 / 91 / 8).

Every fit sees the cities sorted by `city_id` and fixed seeds, on one thread, so the same input
gives the same segments, numbers and names whatever its row order and the machine's cores.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations

import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from healthanalytics.analysis.geography import PER, prescriber_cities

K_RANGE = range(2, 9)  # k tried: 2..8, bounded by the cities
N_INIT = 1  # k-means++ starts per seed: the segmentation is the best of the SEEDS fits
SEEDS = (0, 1, 2, 3, 4)  # KMeans random_state, one fit each; stability = their mean pairwise ARI
SILHOUETTE_SAMPLE = 10_000  # cities the silhouette is computed on, at most (bounded time)
SAMPLE_SEED = 0  # silhouette_score's random_state for that sample
MIN_SEGMENT_SHARE = 0.05  # the smallest segment's share of the cities, at least
MIN_STABILITY = 0.8  # mean adjusted Rand index between the seeds' fits, at least
# size words from the segment's median population (residents), largest first
SIZES = ((1_000_000, "large metro"), (100_000, "city"), (10_000, "town"), (0, "small town"))
# demand words from the segment's demand index (its non-market claims per resident / national)
HIGH_DEMAND = 1.25
LOW_DEMAND = 0.8

FEATURES = (
    "population",
    "prescribers_per_1000",
    "non_market_claims_per_1000",
    "non_market_fills_per_prescriber",
)


def city_features(
    drugs: ir.Table, keys: ir.Table, matched: ir.Table, cities: ir.Table, prescribers: ir.Table
) -> ir.Table:
    """One row per dimension city with a population above 0 and a prescriber of non-market
    lines located there: the segmentation's input, in original units.

    In: `drugs` (the kept lines per prescriber and drug: `presc_id`, `generic_name`, `claims`
    int64 known claims, `fills` float64 30-day fills), `generic_keys` (`generic_name`,
    `in_market`), `match_cities` (the cleaned lines with `city_id`), the city dimension
    (`city_id`, `city`, `state_id`, `population`, `lat`, `lng`), `market_prescribers` (only
    `presc_id` and `presc_state`, to locate prescribers: no market volume is read).
    Out: `city_id`, `city`, `state_id`, `population` (int64 residents), `lat`, `lng` (degrees),
    `prescribers` (int64: located prescribers with a line outside the market),
    `non_market_claims` (int64 known claims of their lines outside the market),
    `non_market_fills` (float64 30-day fills of those lines), `prescribers_per_1000`,
    `non_market_claims_per_1000` (per 1,000 residents), `non_market_fills_per_prescriber`."""
    in_market = keys.filter(keys.in_market).select("generic_name")
    # a null generic name is in no market: the anti-join keeps it
    other = drugs.anti_join(in_market, "generic_name")
    per_prescriber = other.group_by("presc_id").aggregate(
        claims=other.claims.sum().fill_null(0), fills=other.fills.sum().fill_null(0.0)
    )
    located = prescriber_cities(matched, prescribers.select("presc_id", "presc_state"))
    p = located.inner_join(per_prescriber, "presc_id")
    per_city = p.group_by("city_id").aggregate(
        prescribers=p.count(), claims=p.claims.sum(), fills=p.fills.sum()
    )
    dim = cities.filter(cities.population > 0).select(
        "city_id", "city", "state_id", "population", "lat", "lng"
    )
    t = dim.inner_join(per_city, "city_id")
    population = t.population.cast("float64")
    return t.select(
        city_id=t.city_id.cast("int64"),
        city=t.city,
        state_id=t.state_id,
        population=t.population.cast("int64"),
        lat=t.lat.cast("float64"),
        lng=t.lng.cast("float64"),
        prescribers=t.prescribers.cast("int64"),
        non_market_claims=t.claims.cast("int64"),
        non_market_fills=t.fills.cast("float64"),
        prescribers_per_1000=t.prescribers / population * PER,
        non_market_claims_per_1000=t.claims / population * PER,
        non_market_fills_per_prescriber=t.fills / t.prescribers,
    ).order_by("city_id")


@dataclass(frozen=True)
class Segmentation:
    """The model's three results as Arrow tables: `cities` (the city_segments rows), `segments`
    (one row per segment: its figures and centroid, without the market's) and `selection`
    (one row per k tried)."""

    cities: pa.Table
    segments: pa.Table
    selection: pa.Table


def _transform(frame: dict[str, np.ndarray]) -> np.ndarray:
    """The features as clustered: log population, the rates log(1 + x) (heavy right tails: a
    town of 50 residents with one clinic has 20 prescribers per 1,000, a big city about 3)."""
    return np.column_stack(
        [np.log(frame["population"])] + [np.log1p(frame[name]) for name in FEATURES[1:]]
    )


def _untransform(x: np.ndarray) -> np.ndarray:
    return np.column_stack([np.exp(x[:, 0]), np.expm1(x[:, 1:])])


def choose_k(selection: list[dict]) -> int:
    """The k chosen from the figures of every k tried (`k`, `silhouette`, `min_segment_share`,
    `stability`): the module's rules."""
    ranked = sorted(selection, key=lambda r: r["k"])
    sized = [r for r in ranked if r["min_segment_share"] >= MIN_SEGMENT_SHARE]
    both = [r for r in sized if r["stability"] >= MIN_STABILITY]
    if both or sized:
        return max(both or sized, key=lambda r: (r["silhouette"], -r["k"]))["k"]
    return max(ranked, key=lambda r: (r["min_segment_share"], -r["k"]))["k"]


def _size_word(median_population: float) -> str:
    return next(word for floor, word in SIZES if median_population >= floor)


def _demand_word(index: float | None) -> str:
    if index is None or LOW_DEMAND < index < HIGH_DEMAND:
        return "average"
    return "high" if index >= HIGH_DEMAND else "low"


def _silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """scikit-learn's mean silhouette of `labels` (Euclidean; a city alone in its cluster
    scores 0) over every row, or over `silhouette_score`'s own sample of SILHOUETTE_SAMPLE
    rows (random_state SAMPLE_SEED) when there are more; 0 when the rows scored hold a single
    cluster (undefined: `silhouette_score` would raise)."""
    if len(x) <= SILHOUETTE_SAMPLE:
        return float(silhouette_score(x, labels)) if len(np.unique(labels)) > 1 else 0.0
    # the rows silhouette_score draws (RandomState(seed).permutation), to check them first
    sample = np.random.RandomState(SAMPLE_SEED).permutation(len(x))[:SILHOUETTE_SAMPLE]
    if len(np.unique(labels[sample])) < 2:
        return 0.0
    return float(
        silhouette_score(x, labels, sample_size=SILHOUETTE_SAMPLE, random_state=SAMPLE_SEED)
    )


def _fit_all(x: np.ndarray, ks: list[int]) -> tuple[dict[int, np.ndarray], list[dict]]:
    """For each k: the labels of the lowest-inertia fit of SEEDS, and its figures."""
    labels: dict[int, np.ndarray] = {}
    figures = []
    # one thread: KMeans adds up its OpenMP threads' partial sums in an order that depends on
    # their number, so the last bits (and, at a near tie, a label) would follow the machine's
    # cores; the cities are few, and one thread is fast
    with threadpool_limits(limits=1):
        for k in ks:
            fits = [KMeans(k, n_init=N_INIT, random_state=seed).fit(x) for seed in SEEDS]
            best = min(fits, key=lambda f: f.inertia_)  # the first at a tie
            pairs = [adjusted_rand_score(a.labels_, b.labels_) for a, b in combinations(fits, 2)]
            labels[k] = best.labels_.astype(np.int64)
            counts = np.bincount(labels[k], minlength=k)
            figures.append(
                {
                    "k": k,
                    "cities": len(x),
                    "min_segment_share": float(counts.min() / len(x)),
                    "stability": float(np.mean(pairs)),
                    "inertia": float(best.inertia_),
                    "silhouette": _silhouette(x, labels[k]),
                }
            )
    return labels, figures


def segment_cities(features: pa.Table) -> Segmentation:
    """The cities of `city_features` segmented (see the module for the rules).

    Out: `cities`: city_id, city, state_id, population, lat, lng, segment (int64 1..k, 1 = the
    highest demand index), segment_name, then the feature columns of `city_features`;
    `segments`: segment, segment_name, cities, population (residents), population_share (of
    the segmented cities' residents), prescribers, median_population, the centroid in original
    units (`centroid_population` residents, `centroid_prescribers_per_1000`,
    `centroid_non_market_claims_per_1000`, `centroid_non_market_fills_per_prescriber`: the
    inverse of the log transform and scaling, so geometric-type means), non_market_claims,
    `non_market_claims_per_1000` (the segment's claims / its residents x 1,000) and
    `demand_index` (that rate / the rate of all segmented cities; null when they have no
    claims); `selection`: k, cities, silhouette, min_segment_share, stability, inertia (sum of
    squared distances in scaled units), chosen (1 for the k used, else 0). With fewer than
    three cities (or fewer than two distinct feature rows) no k is tried: every city is
    segment 1 and `selection` is empty."""
    table = features.sort_by("city_id")
    frame = {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}
    n = table.num_rows
    # population std; a constant feature is divided by 1
    x = StandardScaler().fit_transform(_transform(frame)) if n else np.empty((0, 4))
    distinct = len(np.unique(x, axis=0)) if n else 0
    ks = [k for k in K_RANGE if k <= min(n - 1, distinct)]
    if ks:
        labels, selection = _fit_all(x, ks)
        chosen = choose_k(selection)
        for row in selection:
            row["chosen"] = int(row["k"] == chosen)
        fitted = labels[chosen]
    else:
        selection, fitted = [], np.zeros(n, dtype=np.int64)
    segments, numbers = _describe(frame, fitted)
    segment = np.asarray([numbers[label] for label in fitted], dtype=np.int64)
    names = {row["segment"]: row["segment_name"] for row in segments}
    cities = pa.table(
        {
            **{name: table[name] for name in ("city_id", "city", "state_id", "population")},
            "lat": table["lat"],
            "lng": table["lng"],
            "segment": pa.array(segment, pa.int64()),
            "segment_name": pa.array([names[s] for s in segment.tolist()], pa.string()),
            **{
                name: table[name]
                for name in ("prescribers", "non_market_claims", "non_market_fills", *FEATURES[1:])
            },
        }
    )
    return Segmentation(cities, _segments_table(segments), _selection_table(selection))


def _describe(frame: dict[str, np.ndarray], labels: np.ndarray) -> tuple[list[dict], dict]:
    """Each fitted cluster's figures, numbered by demand (1 = highest index; ties: the larger
    median population, then the lowest city_id) and named."""
    population = frame["population"].astype(np.int64) if len(labels) else np.empty(0, np.int64)
    claims = frame["non_market_claims"].astype(np.int64) if len(labels) else population
    total_population, total_claims = int(population.sum()), int(claims.sum())
    national = total_claims / total_population if total_population else 0.0
    logs = _transform(frame) if len(labels) else np.empty((0, 4))
    found = []
    for label in np.unique(labels).tolist():
        members = labels == label
        rate = int(claims[members].sum()) / int(population[members].sum())
        centroid = _untransform(logs[members].mean(axis=0, keepdims=True))[0]
        centres = {f"centroid_{name}": float(v) for name, v in zip(FEATURES, centroid, strict=True)}
        found.append(
            {
                "label": label,
                "cities": int(members.sum()),
                "population": int(population[members].sum()),
                "population_share": int(population[members].sum()) / total_population,
                "prescribers": int(frame["prescribers"][members].sum()),
                "median_population": float(np.median(population[members])),
                **centres,
                "non_market_claims": int(claims[members].sum()),
                "non_market_claims_per_1000": rate * PER,
                "demand_index": rate / national if national > 0 else None,
                "_first": int(frame["city_id"][members].min()),
            }
        )
    found.sort(key=lambda r: (-(r["demand_index"] or 0.0), -r["median_population"], r["_first"]))
    for number, row in enumerate(found, start=1):
        row["segment"] = number
        size = _size_word(row["median_population"])
        row["segment_name"] = f"{size}, {_demand_word(row['demand_index'])} demand"
    clashes = Counter(row["segment_name"] for row in found)
    for row in found:
        if clashes[row["segment_name"]] > 1:
            row["segment_name"] += f" ({row['segment']})"
    return found, {row["label"]: row["segment"] for row in found}


SEGMENT_COLUMNS = {
    "segment": pa.int64(),
    "segment_name": pa.string(),
    "cities": pa.int64(),
    "population": pa.int64(),
    "population_share": pa.float64(),
    "prescribers": pa.int64(),
    "median_population": pa.float64(),
    **{f"centroid_{name}": pa.float64() for name in FEATURES},
    "non_market_claims": pa.int64(),
    "non_market_claims_per_1000": pa.float64(),
    "demand_index": pa.float64(),
}
SELECTION_COLUMNS = {
    "k": pa.int64(),
    "cities": pa.int64(),
    "silhouette": pa.float64(),
    "min_segment_share": pa.float64(),
    "stability": pa.float64(),
    "inertia": pa.float64(),
    "chosen": pa.int64(),
}


def _segments_table(rows: list[dict]) -> pa.Table:
    schema = pa.schema(list(SEGMENT_COLUMNS.items()))
    return pa.Table.from_pylist([{c: r[c] for c in SEGMENT_COLUMNS} for r in rows], schema)


def _selection_table(rows: list[dict]) -> pa.Table:
    schema = pa.schema(list(SELECTION_COLUMNS.items()))
    return pa.Table.from_pylist([{c: r[c] for c in SELECTION_COLUMNS} for r in rows], schema)


def segment_profiles(
    segments: ir.Table, city_segments: ir.Table, prescribers: ir.Table, matched: ir.Table
) -> ir.Table:
    """One row per segment: `Segmentation.segments`' columns, then the market's figures of
    the prescribers located in the segment's cities (descriptive only: `market_fills` 30-day
    fills, `market_writers` int64 prescribers with fills above 0, `market_fills_per_1000`
    per 1,000 residents of the segment).

    In: the segments' table, `city_segments` (`city_id`, `segment`), `market_prescribers`
    (`presc_id`, `presc_state`, `fills`), `match_cities` (the cleaned lines with `city_id`)."""
    located = prescriber_cities(matched, prescribers)
    p = prescribers.select("presc_id", "fills").inner_join(located, "presc_id")
    p = p.inner_join(city_segments.select("city_id", "segment"), "city_id")
    market = p.group_by("segment").aggregate(
        market_fills=p.fills.sum(),
        market_writers=(p.fills > 0).cast("int64").sum(),
    )
    t = segments.left_join(market, "segment")
    return t.select(
        *SEGMENT_COLUMNS,
        market_fills=t.market_fills.fill_null(0.0).cast("float64"),
        market_writers=t.market_writers.fill_null(0).cast("int64"),
        market_fills_per_1000=(
            t.market_fills.fill_null(0.0) / t.population.cast("float64") * PER
        ).cast("float64"),
    ).order_by("segment")


def log_line(selection: pa.Table) -> str:
    """The figures of every k tried in one line, for the log."""
    rows = selection.to_pylist()
    if not rows:
        return "too few cities to segment"
    return "; ".join(
        f"k={r['k']}{' (chosen)' if r['chosen'] else ''}: silhouette {r['silhouette']:.3f}, "
        f"smallest {r['min_segment_share']:.1%}, stability {r['stability']:.2f}"
        for r in rows
    )


def prescriber_segments(
    city_segments: ir.Table, matched: ir.Table, prescribers: ir.Table
) -> ir.Table:
    """One row per prescriber of `market_prescribers`: `presc_id` and `segment` (int64: the
    segment of its city, as `geography.prescriber_cities` locates it; null when it has no
    matched city or its city is not segmented) — for the lookalike model, whose feature it
    may be: the segments read no market line."""
    located = prescriber_cities(matched, prescribers)
    t = prescribers.select("presc_id").left_join(located, "presc_id")
    t = t.select("presc_id", "city_id").left_join(
        city_segments.select("city_id", "segment"), "city_id"
    )
    return t.select("presc_id", segment=t.segment.cast("int64"))
