"""The brief's charts: one function per chart, a small table in, PNG bytes and a one-line
takeaway computed from that table out (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

BLUE, GREY, ORANGE = "#1f5a96", "#9aa5b1", "#d9822b"
DPI = 110
MAX_CURVE_POINTS = 2000
# the contiguous states' box: cities outside it (AK, HI, territories) are counted, not drawn
CONTIGUOUS = {"lat": (24.0, 50.0), "lng": (-125.0, -66.0)}
# the fewest market writers an area needs to be named or ranked by its demand index: the
# Poisson-Gamma shrinkage counts fills, but fills come in clumps of one writer's volume, so an
# area of one to four writers is one to four draws however many fills they write
MIN_RANKED_WRITERS = 5


@dataclass(frozen=True)
class Chart:
    """One rendered chart: file name, title, alt text, takeaway and the PNG."""

    name: str
    title: str
    alt: str
    takeaway: str
    png: bytes


def _literal_text(chart: Callable[..., Chart]) -> Callable[..., Chart]:
    """The chart drawn with its text as written: matplotlib would read what lies between two
    `$` of a drug, city or specialty name as a formula (a wrong label, or no chart at all)."""

    @functools.wraps(chart)
    def drawn(*args, **kwargs) -> Chart:
        with matplotlib.rc_context({"text.parse_math": False}):
            return chart(*args, **kwargs)

    return drawn


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def counted(value: int, noun: str, plural: str | None = None) -> str:
    """`value` and `noun`, in the singular for 1, else in the plural: `plural` when given, else
    with an s (`1 generic name`, `2,500 products`, `0 brands`, `3 cities`)."""
    return f"{value:,} {noun if value == 1 else plural or noun + 's'}"


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _figure(title: str, size: tuple[float, float] = (7.0, 3.8)) -> tuple[Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=size)
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


@_literal_text
def product_shares_chart(products: pd.DataFrame, top: int = 12) -> Chart:
    """Bars of the products' shares of the market's fills (brand and generic names), largest
    first; the rest summed as "other"."""
    ranked = products.sort_values("fills_share", ascending=False)
    labels = [f"{b}" if b == g else f"{b} ({g})" for b, g in
              zip(ranked["brand_name"], ranked["generic_name"], strict=True)]  # fmt: skip
    shares = ranked["fills_share"].fillna(0).tolist()
    kinds = ranked["product_type"].tolist()
    if len(shares) > top:
        labels, shares = [*labels[:top], "other products"], [*shares[:top], sum(shares[top:])]
        kinds = [*kinds[:top], "other"]
    title = "Product shares of market fills"
    fig, ax = _figure(title, (7.0, 0.35 * len(shares) + 1.2))
    colours = [ORANGE if kind == "brand" else BLUE if kind == "generic" else GREY for kind in kinds]
    ax.barh(labels[::-1], [100 * s for s in shares[::-1]], color=colours[::-1])
    ax.set_xlim(0, 105 * max([*shares, 0.01]))
    kinds_drawn = [(kind, colour) for kind, colour in (("brand", ORANGE), ("generic", BLUE),
                   ("other", GREY)) if kind in kinds]  # fmt: skip
    ax.legend(handles=[Patch(color=colour, label=kind) for kind, colour in kinds_drawn],
              loc="lower right", frameon=False, fontsize=8)  # fmt: skip
    ax.set_xlabel("share of the market's 30-day fills (%)")
    ax.set_ylabel("product")
    ax.tick_params(axis="y", labelsize=8)
    takeaway = (
        f"{labels[0]} leads with {_pct(shares[0])} of fills among "
        f"{counted(len(ranked), 'product')}"
        if shares and shares[0] > 0
        else "No product of the market was written"
    )
    alt = f"Horizontal bar chart of the shares of fills of {counted(len(ranked), 'product')}; "
    alt += f"{takeaway}."
    return Chart("product_shares", title, alt, takeaway, _png(fig))


def writer_shares(fills: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The Lorenz curve of the writers' fills: cumulative share of writers (smallest first)
    against cumulative share of fills, both from 0 to 1."""
    values = np.sort(np.asarray([f for f in fills if f > 0], dtype=float))
    writers = np.linspace(0.0, 1.0, len(values) + 1)
    total = values.sum()
    volume = np.concatenate([[0.0], np.cumsum(values) / total]) if total > 0 else writers
    return writers, volume


def top_share(fills: Sequence[float], fraction: float) -> float:
    """Share of fills of the largest `fraction` of writers (rounded up to whole writers)."""
    values = sorted((f for f in fills if f > 0), reverse=True)
    if not values:
        return 0.0
    return sum(values[: math.ceil(fraction * len(values))]) / sum(values)


@_literal_text
def concentration_chart(fills: Sequence[float], hhi: float | None) -> Chart:
    """The Lorenz curve of the writers' fills, with the products' HHI in the takeaway."""
    writers, volume = writer_shares(fills)
    step = max(1, len(writers) // MAX_CURVE_POINTS)  # a million writers need not be drawn
    drawn = np.r_[np.arange(0, len(writers), step), len(writers) - 1]
    title = "Concentration of fills among writers (Lorenz curve)"
    fig, ax = _figure(title, (5.6, 4.4))
    ax.plot(100 * writers[drawn], 100 * volume[drawn], color=BLUE,
            label="writers' cumulative fills")  # fmt: skip
    ax.plot([0, 100], [0, 100], color=GREY, linestyle="--", label="equal shares")
    ax.set_xlabel("writers, smallest first (cumulative %)")
    ax.set_ylabel("market fills (cumulative %)")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    count = len(writers) - 1
    top10 = top_share(fills, 0.10)
    known_hhi = hhi is not None and not math.isnan(hhi)
    product_hhi = f"; product HHI {hhi:,.0f}" if known_hhi else ""
    takeaway = (
        f"The top 10% of {counted(count, 'writer')} write {_pct(top10)} of fills{product_hhi}"
        if count
        else "No prescriber wrote the market: no concentration to show"
    )
    alt = f"Lorenz curve of fills over {count:,} writers; {takeaway}."
    return Chart("concentration", title, alt, takeaway, _png(fig))


@_literal_text
def decile_chart(deciles: pd.DataFrame) -> Chart:
    """The decile Pareto: each decile's share of fills (bars, 10 first), their cumulative share
    (line) and each decile's prescribers (line, right axis)."""
    rows = deciles[deciles["decile"] > 0].sort_values("decile", ascending=False)
    title = "Deciles: share of fills and prescribers per decile"
    fig, ax = _figure(title)
    labels = [str(d) for d in rows["decile"]]
    shares = 100 * rows["fills_share"].fillna(0)
    ax.bar(labels, shares, color=BLUE, label="share of fills")
    ax.plot(labels, shares.cumsum(), color=GREY, marker=".", label="cumulative share")
    ax.set_xlabel("decile (10 = largest writers)")
    ax.set_ylabel("share of market fills (%)")
    twin = ax.twinx()
    twin.plot(labels, rows["prescribers"], color=ORANGE, marker="o", label="prescribers")
    twin.set_ylabel("prescribers (count)")
    twin.spines[["top"]].set_visible(False)
    handles, names = (a + b for a, b in zip(ax.get_legend_handles_labels(),
                                            twin.get_legend_handles_labels(), strict=True))
    ax.legend(handles, names, loc="upper center", frameon=False, fontsize=8, ncol=3,
              bbox_to_anchor=(0.5, -0.18))  # fmt: skip
    top = rows[rows["decile"] >= 8]
    takeaway = (
        f"Deciles 8-10: {int(top['prescribers'].sum()):,} prescribers write "
        f"{_pct(float(top['fills_share'].fillna(0).sum()))} of fills"
        if not rows.empty
        else "No prescriber wrote the market"
    )
    alt = (f"Bar chart of fills share by decile with their cumulative share and prescriber "
           f"counts; {takeaway}.")  # fmt: skip
    return Chart("deciles", title, alt, takeaway, _png(fig))


@_literal_text
def specialty_chart(specialties: pd.DataFrame, top: int = 12) -> Chart:
    """The specialty Pareto: the specialties' shares of fills (largest on top) and their
    cumulative share."""
    rows = specialties.sort_values("fills", ascending=False).head(top)
    labels = rows["specialty"].fillna("(blank)").tolist()
    shares = (100 * rows["fills_share"].fillna(0)).tolist()
    title = "Specialty mix: share of market fills"
    fig, ax = _figure(title, (7.0, 0.35 * len(labels) + 1.4))
    ax.barh(labels[::-1], shares[::-1], color=BLUE)
    cumulative = np.cumsum(shares)
    for y, value in zip(range(len(labels) - 1, -1, -1), cumulative, strict=True):
        ax.annotate(f"{value:.0f}% cum.", (shares[len(labels) - 1 - y], y),
                    xytext=(4, -3), textcoords="offset points", fontsize=7, color=GREY)  # fmt: skip
    ax.set_xlabel("share of the market's 30-day fills (%)")
    ax.set_ylabel("specialty")
    ax.tick_params(axis="y", labelsize=8)
    lead = rows[rows["fills_share"].fillna(0) > 0].head(3)
    who = "The top specialty" if len(lead) == 1 else f"The top {len(lead)} specialties"
    takeaway = (
        f"{who} ({', '.join(lead['specialty'].fillna('(blank)'))}) "
        f"write{'s' if len(lead) == 1 else ''} "
        f"{_pct(float(lead['fills_share'].fillna(0).sum()))} of fills"
        if not lead.empty
        else "No specialty wrote the market"
    )
    alt = f"Horizontal Pareto of the {len(labels)} largest specialties by fills; {takeaway}."
    return Chart("specialties", title, alt, takeaway, _png(fig))


@_literal_text
def cities_chart(cities: pd.DataFrame) -> Chart:
    """The matched cities (city_report: `city`, `state_id`, `lat`, `lng`, `trx_counts`; and,
    when the run segmented the cities, `segment` and `segment_name`, null for a city without
    one) as a longitude/latitude scatter sized by claims and coloured by segment (no base map;
    cities outside the contiguous US counted, not drawn)."""
    inside, outside = _contiguous(cities)
    segmented = "segment" in cities.columns and cities["segment"].notna().any()
    title = "Cities by claims" + (", coloured by segment" if segmented else "") + " (contiguous US)"
    fig, ax = _figure(title, (7.0, 4.2))
    largest = float(inside["trx_counts"].max()) if len(inside) else 0.0
    groups = _segment_groups(inside) if segmented else [(None, "", inside)]
    for segment, name, rows in groups:
        claims = rows["trx_counts"].astype(float)
        sizes = 4 + 300 * claims / largest if largest > 0 else 4
        colour = BLUE if not segmented else GREY if segment is None else _segment_colour(segment)
        label = "no segment" if segment is None else f"{segment}: {name}"
        ax.scatter(rows["lng"], rows["lat"], s=sizes, alpha=0.45, color=colour, linewidths=0,
                   label=label if segmented else None)  # fmt: skip
    if segmented:
        legend = ax.legend(loc="lower left", frameon=False, fontsize=7)
        for handle in legend.legend_handles:  # one marker size: the sizes stand for claims
            handle.set_sizes([25])
    ax.set_xlabel("longitude (degrees)")
    ax.set_ylabel("latitude (degrees)")
    ax.set_aspect(1.25)
    total = float(cities["trx_counts"].sum())
    if total > 0:
        top = cities.groupby("state_id")["trx_counts"].sum().sort_values(ascending=False)
        state, claims_top = top.index[0], float(top.iloc[0])
        takeaway = (f"{counted(len(cities), 'matched city', 'matched cities')}; {state} "
                    f"holds the most claims ({_pct(claims_top / total)})")  # fmt: skip
    else:
        takeaway = "No claims matched a city"
    if outside:
        takeaway += f"; {counted(outside, 'city', 'cities')} outside the contiguous US not drawn"
    coloured = ", coloured by segment" if segmented else ""
    alt = f"Scatter of city locations sized by claims{coloured}; {takeaway}."
    return Chart("cities", title, alt, takeaway, _png(fig))


def _segment_colour(segment: int) -> tuple[float, ...]:
    """One colour per segment number, the same in every chart of the page."""
    return matplotlib.colormaps["tab10"]((int(segment) - 1) % 10)


def _segment_groups(cities: pd.DataFrame) -> list[tuple[int | None, str, pd.DataFrame]]:
    """(segment, its name, its cities) in segment order, then the cities without one."""
    groups = [
        (int(segment), str(rows["segment_name"].iloc[0]), rows)
        for segment, rows in cities[cities["segment"].notna()].groupby("segment", sort=True)
    ]
    rest = cities[cities["segment"].isna()]
    return groups + ([(None, "", rest)] if len(rest) else [])


# a tile per state (row, column), laid out like the map: 50 states, DC and Puerto Rico
STATE_TILES = {
    "AK": (0, 0), "ME": (0, 11), "VT": (1, 10), "NH": (1, 11),
    "WA": (2, 1), "ID": (2, 2), "MT": (2, 3), "ND": (2, 4), "MN": (2, 5), "IL": (2, 6),
    "WI": (2, 7), "MI": (2, 8), "NY": (2, 9), "RI": (2, 10), "MA": (2, 11),
    "OR": (3, 1), "NV": (3, 2), "WY": (3, 3), "SD": (3, 4), "IA": (3, 5), "IN": (3, 6),
    "OH": (3, 7), "PA": (3, 8), "NJ": (3, 9), "CT": (3, 10),
    "CA": (4, 1), "UT": (4, 2), "CO": (4, 3), "NE": (4, 4), "MO": (4, 5), "KY": (4, 6),
    "WV": (4, 7), "VA": (4, 8), "MD": (4, 9), "DE": (4, 10),
    "AZ": (5, 2), "NM": (5, 3), "KS": (5, 4), "AR": (5, 5), "TN": (5, 6), "NC": (5, 7),
    "SC": (5, 8), "DC": (5, 9),
    "OK": (6, 4), "LA": (6, 5), "MS": (6, 6), "AL": (6, 7), "GA": (6, 8),
    "HI": (7, 0), "TX": (7, 4), "FL": (7, 9), "PR": (7, 11),
}  # fmt: skip
@_literal_text
def state_tiles_chart(states: pd.DataFrame) -> Chart:
    """A tile-grid map of the states coloured by the shrunk per-capita index of
    market_geography's state rows (`state_id`, `writers`, `index`: 1 = the national rate; null:
    no population); the takeaway names the highest and lowest among the states with at least
    `MIN_RANKED_WRITERS` market writers (every state is coloured)."""
    rows = states[states["state_id"].isin(list(STATE_TILES)) & states["index"].notna()]
    values = {state: float(index) for state, index in zip(rows["state_id"], rows["index"],
              strict=True)}  # fmt: skip
    writers = dict(zip(rows["state_id"], rows["writers"].astype(int), strict=True))
    title = "States: demand index (shrunk fills per capita, 1 = US rate)"
    fig, ax = _figure(title, (7.0, 4.6))
    cmap = matplotlib.colormaps["RdBu_r"]
    # a ratio: coloured on a log scale, so 0.5 and 2 are as far from 1
    logs = {state: math.log(max(value, 0.01)) for state, value in values.items()}
    spread = max([abs(v) for v in logs.values()] + [0.1])
    for state, (row, col) in STATE_TILES.items():
        value = values.get(state)
        shade = None if value is None else 0.5 + 0.5 * logs[state] / spread
        colour = "#eeeeee" if shade is None else cmap(shade)
        ax.add_patch(plt.Rectangle((col, -row), 0.92, 0.92, color=colour))
        dark = shade is not None and abs(shade - 0.5) > 0.3
        label = state if value is None else f"{state}\n{value:.2f}"
        ax.text(col + 0.46, -row + 0.46, label, ha="center", va="center", fontsize=6.5,
                color="white" if dark else "#1d2733")  # fmt: skip
    ax.set_xlim(-0.1, 12.1)
    ax.set_ylim(-7.1, 1.0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[["left", "bottom"]].set_visible(False)
    ax.set_xlabel("index: shrunk market fills per 1,000 residents / US rate "
                  "(red above 1, blue below; grey: no rate)")  # fmt: skip
    ranked = sorted(((state, value) for state, value in values.items()
                     if writers[state] >= MIN_RANKED_WRITERS),
                    key=lambda item: (-item[1], item[0]))  # fmt: skip
    if ranked:
        (high, top), (low, bottom) = ranked[0], ranked[-1]
        takeaway = (f"Among the {len(ranked)} states with at least {MIN_RANKED_WRITERS} market "
                    f"writers, {high} has the highest demand index ({top:.2f}x the US rate, "
                    f"{writers[high]:,} writers), {low} the lowest ({bottom:.2f}x, "
                    f"{writers[low]:,} writers)")  # fmt: skip
    elif values:
        takeaway = (f"No state has at least {MIN_RANKED_WRITERS} market writers: "
                    "no state is ranked by its demand index")  # fmt: skip
    else:
        takeaway = "No state has a demand index (no population or no fills)"
    alt = f"Tile-grid map of US states coloured by the shrunk demand index; {takeaway}."
    return Chart("state_tiles", title, alt, takeaway, _png(fig))


@_literal_text
def quality_chart(counts: pd.DataFrame) -> Chart:
    """Bars of the lines read, kept and quarantined by reason."""
    title = "Lines read, kept and quarantined"
    fig, ax = _figure(title, (7.0, 2.8))
    labels = counts["rows"].tolist()
    values = counts["lines"].astype(int).tolist()
    colours = [GREY, BLUE] + [ORANGE] * (len(values) - 2)
    ax.barh(labels[::-1], values[::-1], color=colours[::-1])
    ax.set_xscale("symlog")
    ax.set_xlabel("lines (count, log scale)")
    ax.set_ylabel("lines")
    for y, value in enumerate(values[::-1]):
        ax.annotate(f"{value:,}", (value, y), xytext=(3, -3), textcoords="offset points",
                    fontsize=7)  # fmt: skip
    read = values[0]
    held = sum(values[2:])
    takeaway = f"{held:,} of {read:,} lines quarantined ({_pct(held / read if read else 0)})"
    alt = f"Bar chart of lines read, kept and quarantined by reason; {takeaway}."
    return Chart("data_quality", title, alt, takeaway, _png(fig))


@_literal_text
def state_cost_chart(states: pd.DataFrame) -> Chart:
    """Bars of the states' price index of all drugs (`state_cost`: `presc_state`,
    `prescribers`, `price_index`, the days-weighted mean of their eligible prescribers'
    indexes; 1 = they pay the national median for what they write), highest on top, with the
    median state's index marked; states without an index are not drawn. Costs per day are
    skewed to the right, so a typical index is a little above 1: the takeaway compares the
    states with the median state (the mean of the middle two for an even count), not with 1
    (docs/RULES.md, "price index"). The brief's chart averaged days per dollar per state
    unweighted."""
    rows = states.dropna(subset=["price_index"])
    rows = rows.sort_values(["price_index", "presc_state"], ascending=[False, True])
    labels = [f"{s} ({int(n):,})" for s, n in zip(rows["presc_state"], rows["prescribers"],
              strict=True)]  # fmt: skip
    values = rows["price_index"].astype(float).tolist()
    title = "States: price index, all drugs (cost / national median cost of the same drugs)"
    fig, ax = _figure(title, (7.0, 0.2 * len(values) + 1.6))
    median = float(np.median(values)) if values else 1.0
    colours = [ORANGE if value > median else BLUE for value in values]
    ax.barh(labels[::-1], values[::-1], color=colours[::-1])
    ax.axvline(median, color=GREY, linestyle="--", linewidth=1)
    ax.set_xlabel("price index, all drugs (ratio; 1 = the national median cost per day of each "
                  "generic; dashed: the median state)")  # fmt: skip
    ax.set_ylabel("state (eligible prescribers)")
    ax.tick_params(axis="y", labelsize=7)
    if len(values) > 1 and median > 0:
        high, low = rows.iloc[0], rows.iloc[-1]
        more = 100 * (float(high["price_index"]) / median - 1)
        less = 100 * (1 - float(low["price_index"]) / median)
        takeaway = (
            f"All drugs: {high['presc_state']} pays {more:.0f}% more than the median state "
            f"({high['price_index']:.2f} against {median:.2f}), {low['presc_state']} "
            f"{less:.0f}% less ({low['price_index']:.2f})"
        )
    elif values:
        takeaway = (f"All drugs: {rows.iloc[0]['presc_state']} is the only state with a price "
                    f"index ({values[0]:.2f})")  # fmt: skip
    else:
        takeaway = "No state has a price index (no eligible prescriber)"
    alt = f"Horizontal bar chart of {len(values)} states' price index of all drugs; {takeaway}."
    return Chart("state_cost", title, alt, takeaway, _png(fig))


@_literal_text
def segments_chart(cities: pd.DataFrame) -> Chart:
    """The segmented cities (city_segments: `lat`, `lng`, `population`, `segment`,
    `segment_name`) as a longitude/latitude scatter sized by population and coloured by
    segment (no base map; cities outside the contiguous US counted, not drawn)."""
    inside, outside = _contiguous(cities)
    title = "City segments (contiguous US)"
    fig, ax = _figure(title, (7.0, 4.4))
    largest = float(cities["population"].max()) if len(cities) else 0.0
    names = cities.drop_duplicates("segment").sort_values("segment")
    counts = cities["segment"].value_counts()
    # the most numerous segment drawn first, so the smaller ones stay visible on top
    drawn = sorted(zip(names["segment"], names["segment_name"], strict=True),
                   key=lambda item: (-counts[item[0]], item[0]))  # fmt: skip
    for segment, name in drawn:
        rows = inside[inside["segment"] == segment]
        # area by the square root of population: a metro of millions must not hide the map
        sizes = 3 + 250 * np.sqrt(rows["population"].astype(float) / largest)
        ax.scatter(rows["lng"], rows["lat"], s=sizes, alpha=0.5, linewidths=0,
                   color=_segment_colour(segment), label=f"{segment}: {name}")  # fmt: skip
    ax.set_xlabel("longitude (degrees)")
    ax.set_ylabel("latitude (degrees)")
    ax.set_aspect(1.25)
    if len(names):
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: int(labels[i].split(":")[0]))
        ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="lower left",
                  frameon=False, fontsize=7, markerscale=0.6)  # fmt: skip
        first = names.iloc[0]
        members = cities[cities["segment"] == first["segment"]]
        share = float(members["population"].sum()) / float(cities["population"].sum())
        takeaway = (f"{counted(len(cities), 'city', 'cities')} in "
                    f"{counted(len(names), 'segment')}; segment {first['segment']} "
                    f"({first['segment_name']}) has {len(members):,} "
                    f"cities and {_pct(share)} of their residents")  # fmt: skip
    else:
        takeaway = "No city was segmented"
    if outside:
        takeaway += f"; {counted(outside, 'city', 'cities')} outside the contiguous US not drawn"
    alt = f"Scatter of city locations sized by population, coloured by segment; {takeaway}."
    return Chart("segments", title, alt, takeaway, _png(fig))


MODEL_LABELS = {"lookalike": "lookalike model", "specialty_rate": "baseline: specialty rate",
                "volume_decile": "baseline: all-drug volume decile"}  # fmt: skip
MODEL_COLOURS = {"lookalike": BLUE, "specialty_rate": GREY, "volume_decile": ORANGE}


@_literal_text
def lift_chart(lift: pd.DataFrame) -> Chart:
    """Grouped bars of the lift by score decile (model_evaluation's lift rows: `model`,
    `score_decile`, `lift` = positive rate of the decile / prevalence) of the lookalike model
    and its two baselines, the highest scores on the left; a dashed line at 1 (no better than
    chance). Tied scores share a decile, so a model may lack some deciles."""
    title = "Lift by score decile: the model against its baselines"
    fig, ax = _figure(title, (7.0, 3.8))
    models = [m for m in MODEL_LABELS if m in set(lift["model"])]
    deciles = list(range(10, 0, -1))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        rows = lift[lift["model"] == model].set_index("score_decile")["lift"]
        xs = [j + (i - (len(models) - 1) / 2) * width for j, d in enumerate(deciles)
              if d in rows.index]  # fmt: skip
        ys = [float(rows[d]) for d in deciles if d in rows.index]
        ax.bar(xs, ys, width=width, color=MODEL_COLOURS[model], label=MODEL_LABELS[model])
    ax.axhline(1.0, color="#1d2733", linestyle="--", linewidth=0.8)
    ax.set_xticks(range(len(deciles)), [str(d) for d in deciles])
    ax.set_xlabel("score decile (10 = the highest tenth of scores)")
    ax.set_ylabel("lift (deciles 8-10 rate / overall rate, x)")
    ax.legend(loc="upper right", frameon=False, fontsize=8)
    tops = {m: lift[(lift["model"] == m) & (lift["score_decile"] == 10)]["lift"] for m in models}
    tops = {m: float(v.iloc[0]) for m, v in tops.items() if len(v)}
    if "lookalike" in tops:
        others = ", ".join(f"{MODEL_LABELS[m].removeprefix('baseline: ')} {v:.1f}x"
                           for m, v in tops.items() if m != "lookalike")  # fmt: skip
        takeaway = f"The model's top score decile has {tops['lookalike']:.1f}x the overall rate"
        takeaway += f" (baselines: {others})" if others else ""
    else:
        takeaway = "The model has no lift figure for its top score decile"
    alt = f"Grouped bar chart of lift by score decile for the model and baselines; {takeaway}."
    return Chart("model_lift", title, alt, takeaway, _png(fig))


@_literal_text
def calibration_chart(points: pd.DataFrame) -> Chart:
    """The reliability diagram of the lookalike model and its two baselines (`calibration_points`:
    per model and score decile, `mean_score` = the mean out-of-fold predicted probability,
    `positive_rate` = the observed share in deciles 8-10, `prescribers`), against the diagonal
    of a perfectly calibrated score. Takeaway: each model's mean gap from the diagonal
    weighted by prescribers (the expected calibration error), and the model's top decile."""
    title = "Calibration: predicted probability against observed share"
    fig, ax = _figure(title, (5.6, 4.4))
    models = [m for m in MODEL_LABELS if m in set(points["model"])]
    top = 100 * max([0.01, *points["mean_score"].tolist(), *points["positive_rate"].tolist()])
    top *= 1.05
    diagonal = {"color": "#1d2733", "linestyle": "--", "linewidth": 0.8}
    ax.plot([0, top], [0, top], label="perfect calibration", **diagonal)
    gaps = {}
    for model in models:
        rows = points[points["model"] == model].sort_values("score_decile")
        ax.plot(100 * rows["mean_score"], 100 * rows["positive_rate"], marker="o",
                color=MODEL_COLOURS[model], label=MODEL_LABELS[model])  # fmt: skip
        gap = (rows["mean_score"] - rows["positive_rate"]).abs()
        gaps[model] = float((gap * rows["prescribers"]).sum() / rows["prescribers"].sum())
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("mean predicted probability of deciles 8-10, per score decile (%)")
    ax.set_ylabel("observed share in deciles 8-10 (%)")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    if "lookalike" in gaps:
        last = points[points["model"] == "lookalike"].sort_values("score_decile").iloc[-1]
        others = ", ".join(f"{MODEL_LABELS[m].removeprefix('baseline: ')} {100 * v:.1f}"
                           for m, v in gaps.items() if m != "lookalike")  # fmt: skip
        takeaway = (f"Mean gap from the diagonal, weighted by prescribers: model "
                    f"{100 * gaps['lookalike']:.1f} points"
                    + (f" (baselines: {others})" if others else "")
                    + f"; the model's top score decile: predicted "
                    f"{_pct(float(last['mean_score']))}, observed "
                    f"{_pct(float(last['positive_rate']))}")  # fmt: skip
    else:
        takeaway = "The model has no reliability point"
    alt = (f"Reliability diagram of the model and its two baselines by score decile, against "
           f"the diagonal; {takeaway}.")  # fmt: skip
    return Chart("model_calibration", title, alt, takeaway, _png(fig))


def _contiguous(cities: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The cities with coordinates inside the contiguous US (the ones a map draws), and how
    many other cities have coordinates (counted in the takeaway, not drawn)."""
    known = cities.dropna(subset=["lat", "lng"])
    inside = known[known["lat"].between(*CONTIGUOUS["lat"])
                   & known["lng"].between(*CONTIGUOUS["lng"])]  # fmt: skip
    return inside, len(known) - len(inside)
