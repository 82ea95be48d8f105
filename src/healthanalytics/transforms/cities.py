"""City matching and the city report."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

# Accented Latin letters (Latin-1 Supplement and Latin Extended-A) and the base letter each
# folds to: one translate(), which both engines have (Spark lacks strip_accents). Letters
# without a one-letter base are spelled out first.
_FOLDS = {
    "A": "ÀÁÂÃÄÅĀĂĄàáâãäåāăą", "C": "ÇĆĈĊČçćĉċč", "D": "ÐĎĐðďđ", "E": "ÈÉÊËĒĔĖĘĚèéêëēĕėęě",
    "G": "ĜĞĠĢĝğġģ", "H": "ĤĦĥħ", "I": "ÌÍÎÏĨĪĬĮİìíîïĩīĭįı", "J": "Ĵĵ", "K": "Ķķ",
    "L": "ĹĻĽĿŁĺļľŀł", "N": "ÑŃŅŇñńņň", "O": "ÒÓÔÕÖØŌŎŐòóôõöøōŏő", "R": "ŔŖŘŕŗř",
    "S": "ŚŜŞŠśŝşšſ", "T": "ŢŤŦţťŧ", "U": "ÙÚÛÜŨŪŬŮŰŲùúûüũūŭůűų", "W": "Ŵŵ", "Y": "ÝŶŸýÿŷ",
    "Z": "ŹŻŽźżž",
}  # fmt: skip
ACCENTED = "".join(_FOLDS.values())
UNACCENTED = "".join(base * len(letters) for base, letters in _FOLDS.items())
_SPELLED_OUT = (("[ßẞ]", "SS"), ("[Ææ]", "AE"), ("[Œœ]", "OE"), ("[Ĳĳ]", "IJ"), ("[Þþ]", "TH"))
_NOT_ASCII = r"[^\x00-\x7F]"
# Java (Spark) and RE2 (DuckDB) both understand \p{L} and \p{N}; POSIX classes they do not share.
_NOT_LETTER_OR_DIGIT = r"[^\p{L}\p{N}]+"
HAS_LETTER_OR_DIGIT = r"[\p{L}\p{N}]"
ABBREVIATIONS = {"ST": "SAINT", "STE": "SAINTE", "FT": "FORT", "MT": "MOUNT"}


def fold_accents(name: ir.StringValue) -> ir.StringValue:
    """The text with accented Latin letters as their base letters (ß, Æ, Œ, Ĳ, Þ spelled out)."""
    folded = name.translate(ACCENTED, UNACCENTED)
    for letters, spelled in _SPELLED_OUT:
        folded = folded.re_replace(letters, spelled)
    # translate() over this table is slow on DuckDB; most names are plain ASCII and skip it
    return ibis.ifelse(name.re_search(_NOT_ASCII), folded, name)


def normalise_city_name(name: ir.StringValue) -> ir.StringValue:
    """The key a city name is matched on: accents folded, upper case, split into words at
    every run of blanks, punctuation or symbols, the words ST/STE/FT/MT spelled
    SAINT/SAINTE/FORT/MOUNT, and the words joined without blanks.

    `ST.LOUIS`, `St. Louis` and `SAINT LOUIS` all give `SAINTLOUIS`; `O'Fallon`, `O FALLON`
    and `OFALLON` all give `OFALLON`. Null stays null; a name of no letters or digits gives ''.
    """
    words = fold_accents(name).upper().re_replace(_NOT_LETTER_OR_DIGIT, " ").strip()
    # every word between blanks of its own, so that each abbreviation is found as a word
    # even beside another ("ST STE"); plain replace() is cheap on both engines
    text = " " + words.replace(" ", "  ") + " "
    for short, long in ABBREVIATIONS.items():
        text = text.replace(f" {short} ", f" {long} ")
    return text.replace(" ", "")


def count_zips(zips: ir.StringValue) -> ir.IntegerValue:
    """How many space-separated ZIP codes the text holds; 0 when empty or null."""
    text = zips.re_replace(r"\s+", " ").strip()
    return ibis.ifelse(text.isnull() | (text == ""), 0, text.split(" ").length()).cast("int64")


# The columns stage_cities gives, most telling first: the order that numbers the rows.
_ID_ORDER = ("state_id", "city", "county_fips", "lat", "lng", "county_name", "population",
             "city_ascii", "state_name", "zips")  # fmt: skip


def city_lookup(cities: ir.Table) -> ir.Table:
    """One row per (state_id, city_key): the dimension row that stands for that key.

    Keys come from both `city` and `city_ascii`; where a key occurs more than once, the most
    populous row stands for it, so a prescriber line never matches two cities.
    """
    keys = _named_keys(cities, "city")
    if "city_ascii" in cities.columns:
        keys = keys.union(_named_keys(cities, "city_ascii"), distinct=True)
    pick = ibis.row_number().over(
        group_by=[keys.state_id, keys.city_key],
        order_by=[ibis.desc(keys.population), keys.city_id],
    )
    return (
        keys.mutate(_pick=pick)
        .filter(lambda t: t._pick == 0)
        .select("state_id", "city_key", "city_id")
    )


def _named_keys(dim: ir.Table, column: str) -> ir.Table:
    """(city_id, state_id, population, city_key) for each row whose `column` has a letter or
    digit: a name without any gives an empty key, which must match nothing."""
    named = dim.filter(dim[column].re_search(HAS_LETTER_OR_DIGIT))
    return named.select(
        named.city_id,
        named.state_id,
        named.population,
        city_key=normalise_city_name(named[column]),
    )


def match_cities(clean: ir.Table, cities: ir.Table) -> ir.Table:
    """The cleaned rows with the `city_id` each matches (null where none does)."""
    lookup = city_lookup(cities)
    # names are normalised once per distinct place: far fewer than prescriber rows
    places = clean.select("presc_state", "presc_city").distinct()
    keyed = places.mutate(_city_key=normalise_city_name(places.presc_city))
    ids = keyed.left_join(
        lookup,
        [keyed.presc_state == lookup.state_id, keyed._city_key == lookup.city_key],
    ).select("presc_state", "presc_city", "city_id")
    joined = clean.left_join(
        ids, [clean.presc_state == ids.presc_state, clean.presc_city == ids.presc_city]
    )
    return joined.select(*clean.columns, "city_id")


def city_report(matched: ir.Table, cities: ir.Table) -> ir.Table:
    """One row per dimension city with at least one prescriber: demand by city; the columns
    of the city_report contract (contracts/reports.py) but delivery_date."""
    per_city = (
        matched.filter(matched.city_id.notnull())
        .group_by("city_id")
        .aggregate(
            # a city with only unimputed claims counts 0, never null
            trx_counts=matched.trx_cnt.sum().fill_null(0).cast("int64"),
            presc_counts=matched.presc_id.nunique().cast("int64"),
        )
    )
    dim = cities
    report = dim.inner_join(per_city, "city_id").select(
        city=dim.city.upper(),
        state_name=dim.state_name.upper(),
        county_name=dim.county_name.upper(),
        population=dim.population.cast("int64"),
        zip_counts=count_zips(dim.zips),
        trx_counts=per_city.trx_counts,
        presc_counts=per_city.presc_counts,
        state_id=dim.state_id,
        lat=dim.lat.cast("float64"),
        lng=dim.lng.cast("float64"),
    )
    return report.order_by(
        [ibis.desc(report.trx_counts), report.state_id, report.city, report.county_name]
    )


def match_summary(matched: ir.Table) -> ir.Table:
    """One row: lines and claims in total and matched to a city."""
    hit = matched.city_id.notnull()
    return matched.aggregate(
        rows=matched.lines.sum().cast("int64"),
        rows_matched=ibis.ifelse(hit, matched.lines, 0).sum().cast("int64"),
        claims=matched.trx_cnt.sum().cast("int64"),
        claims_matched=ibis.ifelse(hit, matched.trx_cnt, 0).sum().cast("int64"),
    )


def unmatched_places(matched: ir.Table) -> ir.Table:
    """One row per (presc_city, presc_state) of kept lines that match no dimension city,
    blank city or state included: `lines`, `claims` (sum of trx_cnt; 0 when none is known),
    `prescribers` (distinct presc_id) and `rank` (1 = most lines; ties: more claims, then
    state and city in alphabetical order, blanks last): the columns of the unmatched_cities
    contract (contracts/reports.py) but delivery_date."""
    missed = matched.filter(matched.city_id.isnull())
    places = missed.group_by(["presc_city", "presc_state"]).aggregate(
        lines=missed.lines.sum().cast("int64"),
        claims=missed.trx_cnt.sum().fill_null(0).cast("int64"),
        prescribers=missed.presc_id.nunique().cast("int64"),
    )
    rank = ibis.row_number().over(
        order_by=[
            ibis.desc(places.lines),
            ibis.desc(places.claims),
            ibis.asc(places.presc_state, nulls_first=False),
            ibis.asc(places.presc_city, nulls_first=False),
        ]
    )
    return places.mutate(rank=(rank + 1).cast("int64"))


def stage_cities(raw: ir.Table) -> ir.Table:
    """The city dimension with declared types, optional columns null when absent, and its key
    `city_id`: each row's rank by every column, so it is the same on every engine and in any
    row order (only identical rows tie, and either of them stands for the same report row).
    Computed here once: the lookup and the report both use it."""

    def column(name: str, dtype: str) -> ir.Value:
        if name not in raw.columns:
            return ibis.null(dtype)
        value = raw[name]
        if dtype == "string":
            return value.cast("string")
        return (
            value.cast("string").strip().try_cast(dtype)
            if value.type().is_string()
            else value.cast(dtype)
        )

    staged = raw.select(
        city=column("city", "string"),
        city_ascii=column("city_ascii", "string"),
        state_id=column("state_id", "string").strip().upper(),
        state_name=column("state_name", "string"),
        county_fips=column("county_fips", "int64"),
        county_name=column("county_name", "string"),
        lat=column("lat", "float64"),
        lng=column("lng", "float64"),
        population=column("population", "int64"),
        zips=column("zips", "string"),
    )
    order = [staged[name] for name in _ID_ORDER]
    return staged.mutate(city_id=ibis.row_number().over(order_by=order))
