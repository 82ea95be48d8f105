"""Geographic demand of the market: pure Ibis transforms over the market's prescribers
(`deciles.market_prescribers`), the cleaned lines matched to cities (`cities.match_cities`) and
the city dimension (`stage_cities`), one row per state and per city (docs/RULES.md, The launch
analysis, "Geographic demand"; issue 15 item 4).

A prescriber's state is the one `market_prescribers` gives it (`presc_state`); its city is the
dimension city its kept lines in that state match most often (ties: the lowest `city_id`), none
when no such line matches. A prescriber without a matched city counts in its state's row only;
one whose state is unknown (blank) counts nowhere. Every dimension city and every state of the
dimension has a row (0 fills where no prescriber is), and so has a prescriber's state code
that the dimension lacks (its population null).

Rates are empirical-Bayes shrunk towards the national rate (Clayton D. & Kaldor J. 1987,
"Empirical Bayes estimates of age-standardized relative risks for use in disease mapping",
Biometrics 43:671-681, Poisson-Gamma model), the prior by the method of moments (Marshall R.J.
1991, "Mapping disease and mortality rates using empirical Bayes estimators", Applied
Statistics 40:283-294), separately within each level ('state', 'city'):

- areas with a population above 0 are the level's areas; the others get null rates and rank
  last, and their fills count in no rate;
- r = the areas' fills / their population (the national rate, fills per resident);
- raw = fills / population; mean_population = the areas' mean population;
- s2 = the population-weighted variance of raw around r: sum(population * (raw - r)^2) / sum(
  population);
- prior mean m = r, prior variance v = max(s2 - m / mean_population, 1e-12);
- shrunk = m + (raw - m) * v / (v + m / population), between raw and r (computed as the
  weighted mean (v * raw + (m / population) * m) / (v + m / population), the same number);
- index = shrunk / r (a location quotient, 1 = the national rate; null when r is 0).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.analysis.specialties import HIGH_DECILE

PER = 1000  # rates are given per 1,000 residents
VARIANCE_FLOOR = 1e-12  # the prior variance's floor (fills per resident, squared)


def prescriber_cities(matched: ir.Table, prescribers: ir.Table) -> ir.Table:
    """One row per prescriber with a matched city in its own state: `presc_id`, `city_id` (the
    city most of its kept lines in that state match; ties: the lowest id).

    In: `match_cities` (the cleaned lines: `presc_id`, `presc_state`, `city_id` null when
    unmatched), `market_prescribers` (`presc_id`, `presc_state`)."""
    hits = matched.filter(matched.city_id.notnull())
    per_city = hits.group_by(["presc_id", "presc_state", "city_id"]).aggregate(n_lines=hits.count())
    own = prescribers.select(p_id=prescribers.presc_id, p_state=prescribers.presc_state)
    joined = per_city.inner_join(
        own, [per_city.presc_id == own.p_id, per_city.presc_state == own.p_state]
    )
    pick = ibis.row_number().over(
        group_by=joined.presc_id, order_by=[ibis.desc(joined.n_lines), joined.city_id]
    )
    return joined.mutate(_pick=pick).filter(lambda t: t._pick == 0).select("presc_id", "city_id")


def market_geography(prescribers: ir.Table, matched: ir.Table, cities: ir.Table) -> ir.Table:
    """One row per state and per city: the market's demand per capita.

    In: `market_prescribers` (`presc_id`, `presc_state`, `claims` int64, `fills` float64 30-day
    fills, `decile` 0..10), `match_cities` (the cleaned lines with `city_id`), the city
    dimension (`city_id` int64, `city`, `state_id`, `population` int64 residents). Out: `level`
    ('state' | 'city'), `state_id`, `city` and `city_id` (null on state rows), `population`
    (int64 residents: the city's own; for a state the sum over its dimension cities, null when
    the dimension has none), `fills` (30-day fills), `claims` (int64), `writers` (int64
    prescribers with fills above 0), `high_decile_writers` (int64 writers in deciles 8-10),
    `fills_per_1000` (raw 30-day fills per 1,000 residents), `fills_per_1000_shrunk`
    (empirical-Bayes shrunk, see the module), `index` (shrunk / national rate, 1 = US
    average), `opportunity_rank` (int64, 1 = best within the level: highest index, then most
    fills, then state_id and city_id; areas without a rate last); rates null where the
    population is 0 or null. Rows ordered by level, rank."""
    located = prescriber_cities(matched, prescribers)
    p = prescribers.left_join(located, "presc_id").select(
        "presc_id", "presc_state", "claims", "fills", "decile", "city_id"
    )
    writing = p.fills > 0
    p = p.mutate(
        writing=writing.cast("int64"), high=(writing & (p.decile >= HIGH_DECILE)).cast("int64")
    )

    def demand(t: ir.Table) -> dict[str, ir.Value]:
        return {
            "fills": t.fills.sum(),
            "claims": t.claims.sum(),
            "writers": t.writing.sum(),
            "high_decile_writers": t.high.sum(),
        }

    known = p.filter(p.presc_state.notnull())
    state_demand = known.group_by(state_id=known.presc_state).aggregate(**demand(known))
    in_city = p.filter(p.city_id.notnull())
    city_demand = in_city.group_by("city_id").aggregate(**demand(in_city))

    state_pop = cities.group_by("state_id").aggregate(population=cities.population.sum())
    state_keys = state_pop.select("state_id").union(state_demand.select("state_id"), distinct=True)
    states = state_keys.left_join(state_pop, "state_id").left_join(state_demand, "state_id")
    states = states.select(
        level=ibis.literal("state"),
        state_id=states.state_id,
        city=ibis.null().cast("string"),
        city_id=ibis.null().cast("int64"),
        population=states.population.cast("int64"),
        fills=states.fills,
        claims=states.claims,
        writers=states.writers,
        high_decile_writers=states.high_decile_writers,
    )
    dim = cities.select("city_id", "city", "state_id", "population")
    towns = dim.left_join(city_demand, "city_id")
    towns = towns.select(
        level=ibis.literal("city"),
        state_id=towns.state_id,
        city=towns.city,
        city_id=towns.city_id.cast("int64"),
        population=towns.population.cast("int64"),
        fills=towns.fills,
        claims=towns.claims,
        writers=towns.writers,
        high_decile_writers=towns.high_decile_writers,
    )
    areas = states.union(towns)
    areas = areas.mutate(
        fills=areas.fills.fill_null(0.0).cast("float64"),
        claims=areas.claims.fill_null(0).cast("int64"),
        writers=areas.writers.fill_null(0).cast("int64"),
        high_decile_writers=areas.high_decile_writers.fill_null(0).cast("int64"),
    )
    return _shrunk_rates(areas)


def _shrunk_rates(areas: ir.Table) -> ir.Table:
    """The rates, index and rank of each area within its level (the module's method)."""
    counted = areas.population.notnull() & (areas.population > 0)
    pop = ibis.ifelse(counted, areas.population.cast("float64"), ibis.null().cast("float64"))
    level = ibis.window(group_by=areas.level)
    a = areas.mutate(
        _pop=pop,
        _raw=areas.fills / pop,
        _total_fills=ibis.ifelse(counted, areas.fills, 0.0).sum().over(level),
        _total_pop=pop.sum().over(level),
        _mean_pop=pop.mean().over(level),
    )
    a = a.mutate(_r=a._total_fills / a._total_pop)
    a = a.mutate(_s2=(a._pop * (a._raw - a._r) ** 2).sum().over(level) / a._total_pop)
    a = a.mutate(_v=ibis.greatest(a._s2 - a._r / a._mean_pop, VARIANCE_FLOOR))
    # m + (raw - m) * v / (v + m / population) written as the weighted mean it is, every term
    # positive: near raw = 0 the difference form loses its digits to cancellation, and the
    # engines' sums in another order would then differ beyond the last bits
    noise = a._r / a._pop
    a = a.mutate(_shrunk=(a._v * a._raw + noise * a._r) / (a._v + noise))
    a = a.mutate(index=(a._shrunk / a._r.nullif(0)).cast("float64"))
    rank = ibis.row_number().over(
        group_by=a.level,
        order_by=[
            a.index.isnull(),
            ibis.desc(a.index),
            ibis.desc(a.fills),
            a.state_id,
            a.city_id,
        ],
    )
    return a.select(
        "level",
        "state_id",
        "city",
        "city_id",
        "population",
        "fills",
        "claims",
        "writers",
        "high_decile_writers",
        fills_per_1000=(a._raw * PER).cast("float64"),
        fills_per_1000_shrunk=(a._shrunk * PER).cast("float64"),
        index=a.index,
        opportunity_rank=(rank + 1).cast("int64"),
    ).order_by(["level", "opportunity_rank"])
