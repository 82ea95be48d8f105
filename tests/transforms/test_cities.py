"""City-name normalising, ZIP counts, the dimension lookup and the city report."""

import re
import unicodedata
from collections import defaultdict

import ibis
import pandas as pd
import pytest

from healthanalytics.contracts import CITY_REPORT, UNMATCHED_CITIES
from healthanalytics.io.inputs import bundled
from healthanalytics.transforms.cities import (
    ACCENTED,
    UNACCENTED,
    city_report,
    count_zips,
    match_cities,
    match_summary,
    normalise_city_name,
    stage_cities,
    unmatched_places,
)
from tests.transforms.conftest import rows


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("St. Louis", "SAINTLOUIS"),  # the period parts words, ST spelled out, blanks dropped
        ("ST.LOUIS", "SAINTLOUIS"),  # no blank after the period
        ("ST LOUIS", "SAINTLOUIS"),
        ("Saint Louis", "SAINTLOUIS"),
        ("STE GENEVIEVE", "SAINTEGENEVIEVE"),  # STE spelled SAINTE
        ("Ste. Genevieve", "SAINTEGENEVIEVE"),
        ("SAINTE GENEVIEVE", "SAINTEGENEVIEVE"),
        ("LAKE ST LOUIS", "LAKESAINTLOUIS"),  # ST as a word inside a name
        ("Lake St. Louis", "LAKESAINTLOUIS"),
        ("EAST ST. LOUIS", "EASTSAINTLOUIS"),
        ("Ft. Worth", "FORTWORTH"),
        ("  mt   vernon ", "MOUNTVERNON"),  # blanks trimmed, MT spelled out
        ("Mt.Vernon", "MOUNTVERNON"),
        ("MT", "MOUNT"),  # the abbreviation alone is a word too
        ("O'Fallon", "OFALLON"),  # punctuation, a blank or nothing between words: one key
        ("O FALLON", "OFALLON"),
        ("OFALLON", "OFALLON"),
        ("Winston-Salem", "WINSTONSALEM"),
        ("WINSTON SALEM", "WINSTONSALEM"),
        ("STANTON", "STANTON"),  # ST, FT, MT only as whole words
        ("WEST STOCKBRIDGE", "WESTSTOCKBRIDGE"),
        ("FTWORTH", "FTWORTH"),
        ("Cañon City", "CANONCITY"),  # accents folded to their base letters
        ("CANON CITY", "CANONCITY"),
        ("Mayagüez", "MAYAGUEZ"),
        ("SAN JOSÉ", "SANJOSE"),
        ("Łódź", "LODZ"),  # letters NFKD does not decompose are in the table too
        ("Straße", "STRASSE"),  # letters without a one-letter base are spelled out
        ("Cœur d'Alene", "COEURDALENE"),
        ("29 PALMS", "29PALMS"),  # digits stay
        ("...", ""),  # nothing but punctuation: an empty key, which matches nothing
        ("", ""),
        (None, None),
    ],
)
def test_normalise_city_name(raw, expected):
    key = ibis.literal(raw, type="string").pipe(normalise_city_name).execute()
    assert (None if pd.isna(key) else key) == expected


def test_accent_table_folds_each_letter_to_its_base():
    # the translate() table against Unicode's decomposition, or for the few letters it keeps
    # whole (Ø, Ł, ...) the letter they are drawn from
    whole = dict(zip("ØøĐđÐðĦħŁłŦŧı", "OODDDDHHLLTTI", strict=True))
    assert len(ACCENTED) == len(UNACCENTED) == len(set(ACCENTED))
    for letter, base in zip(ACCENTED, UNACCENTED, strict=True):
        assert base == whole.get(letter, unicodedata.normalize("NFKD", letter)[0].upper()), letter
    # and it holds every letter of Latin-1 and Latin Extended-A that is a letter plus accents
    for letter in map(chr, range(0xC0, 0x180)):
        parts = unicodedata.normalize("NFKD", letter)
        if len(parts) > 1 and parts[0].isascii() and all(map(unicodedata.combining, parts[1:])):
            assert letter in ACCENTED, letter


@pytest.mark.parametrize(
    ("zips", "expected"),
    [("11229 11226 11225", 3), ("", 0), (None, 0), ("  60018   60649 ", 2), ("90210", 1)],
)
def test_count_zips(zips, expected):
    # a null zips counts 0 (RULES: zip_counts, 0 when none)
    assert ibis.literal(zips, type="string").pipe(count_zips).execute() == expected


DIMENSION_COLUMNS = ("city", "city_ascii", "state_id", "state_name", "county_fips", "county_name",
                     "lat", "lng", "population", "zips")  # fmt: skip
DIMENSION = [
    ("St. Louis", "St. Louis", "MO", "Missouri", 29510, "St. Louis", 38.6, -90.2, 2_000_000,
     "63101 63102"),
    ("Franklin", "Franklin", "PA", "Pennsylvania", 42121, "Venango", 41.4, -79.8, 8802, "16323"),
    ("Franklin", "Franklin", "PA", "Pennsylvania", 42021, "Cambria", 40.3, -78.9, 293, "15909"),
    ("Cañon City", "Canon City", "CO", "Colorado", 8043, "Fremont", 38.4, -105.2, 16000, None),
    ("Springfield", "Springfield", "IL", "Illinois", 17167, "Sangamon", 39.8, -89.6, 150000,
     "62701"),
    ("Fort Worth", "Fort Worth", "TX", "Texas", 48439, "Tarrant", 32.8, -97.3, 900_000, "76101"),
    ("Ste. Genevieve", "Ste. Genevieve", "MO", "Missouri", 29186, "Ste. Genevieve", 37.9, -90.1,
     4400, "63670"),
    ("Lake St. Louis", "Lake St. Louis", "MO", "Missouri", 29183, "St. Charles", 38.8, -90.8,
     16000, "63367"),
    ("O'Fallon", "O'Fallon", "MO", "Missouri", 29183, "St. Charles", 38.8, -90.7, 88000, "63366"),
    # no ASCII spelling given: only folding the accent lets MAYAGUEZ match
    ("Mayagüez", "Mayagüez", "PR", "Puerto Rico", 72097, "Mayagüez", 18.2, -67.1, 61361,
     "00680 00682"),
    ("San Jose", "San Jose", "CA", "California", 6085, "Santa Clara", 37.3, -121.8, 1_000_000,
     "95110"),
]  # fmt: skip


def raw_cities() -> ibis.Table:
    return ibis.memtable(
        {name: [row[i] for row in DIMENSION] for i, name in enumerate(DIMENSION_COLUMNS)}
    )


def cities():
    return stage_cities(raw_cities())


def clean(lines):
    """Cleaned rows, one line each."""
    names = ("presc_id", "presc_city", "presc_state", "trx_cnt")
    data = {n: [line[i] for line in lines] for i, n in enumerate(names)}
    return ibis.memtable(
        {**data, "lines": [1] * len(lines)},
        schema={
            "presc_id": "int64",
            "presc_city": "string",
            "presc_state": "string",
            "trx_cnt": "int64",
            "lines": "int64",
        },
    )


LINES = [
    (1000000001, "SAINT LOUIS", "MO", 10),  # spelling variant of St. Louis
    (1000000001, "ST LOUIS", "MO", 5),  # same prescriber again: counted once
    (1000000002, "ST. LOUIS", "MO", None),  # unimputed claims add nothing
    (1000000008, "ST.LOUIS", "MO", 4),  # no blank after the period
    (1000000003, "FRANKLIN", "PA", 7),  # duplicate key: the populous Venango row stands
    (1000000004, "CANON CITY", "CO", 3),  # matched through city_ascii
    (1000000007, "FT WORTH", "TX", None),  # only unknown claims: a count of 0, not null
    (1000000009, "STE GENEVIEVE", "MO", 2),  # STE for Ste.
    (1000000010, "SAINTE GENEVIEVE", "MO", 3),  # SAINTE for Ste.
    (1000000011, "LAKE ST LOUIS", "MO", 6),  # ST inside the name
    (1000000012, "MAYAGUEZ", "PR", 8),  # no accent here, one in the dimension
    (1000000013, "SAN JOSÉ", "CA", 9),  # an accent here, none in the dimension
    (1000000014, "O FALLON", "MO", 1),  # a blank where the dimension has an apostrophe
    (1000000005, "NOWHERE", "PA", 100),  # no such city
    (1000000006, "FRANKLIN", "OH", 1),  # same name, other state: no match
]


def city_row(*values):
    return dict(zip(CITY_REPORT.computed_names, values, strict=True))


def test_city_report_counts_each_prescriber_once():
    matched = match_cities(clean(LINES), cities())
    report = city_report(matched, cities())
    assert list(report.columns) == CITY_REPORT.computed_names  # the contract's order
    assert rows(report) == [
        city_row("CAÑON CITY", "COLORADO", "FREMONT", 16000, 0, 3, 1, "CO", 38.4, -105.2),
        city_row("FORT WORTH", "TEXAS", "TARRANT", 900_000, 1, 0, 1, "TX", 32.8, -97.3),
        city_row("FRANKLIN", "PENNSYLVANIA", "VENANGO", 8802, 1, 7, 1, "PA", 41.4, -79.8),
        city_row("LAKE ST. LOUIS", "MISSOURI", "ST. CHARLES", 16000, 1, 6, 1, "MO", 38.8, -90.8),
        city_row("MAYAGÜEZ", "PUERTO RICO", "MAYAGÜEZ", 61361, 2, 8, 1, "PR", 18.2, -67.1),
        city_row("O'FALLON", "MISSOURI", "ST. CHARLES", 88000, 1, 1, 1, "MO", 38.8, -90.7),
        city_row("SAN JOSE", "CALIFORNIA", "SANTA CLARA", 1_000_000, 1, 9, 1, "CA", 37.3, -121.8),
        city_row("ST. LOUIS", "MISSOURI", "ST. LOUIS", 2_000_000, 2, 19, 3, "MO", 38.6, -90.2),
        city_row("STE. GENEVIEVE", "MISSOURI", "STE. GENEVIEVE", 4400, 1, 5, 2, "MO", 37.9, -90.1),
    ]


def test_match_summary_reports_rows_and_claims_matched():
    matched = match_cities(clean(LINES), cities())
    assert rows(match_summary(matched)) == [
        dict(rows=15, rows_matched=13, claims=159, claims_matched=58)
    ]
    # a prescriber line never matches two dimension rows
    assert matched.count().execute() == len(LINES)


def test_unmatched_places_ranked_by_lines_with_ties_broken():
    lines = [
        (2000000001, "NOWHERE", "PA", 100),
        (2000000002, "NOWHERE", "PA", 50),  # two lines, two prescribers: the most lines
        (2000000003, "ELSEWHERE", "OH", 10),
        (2000000003, "ELSEWHERE", "OH", None),  # as many lines, fewer claims: second
        (2000000004, "SPRINGFIELD", "XX", 5),  # a code that is no state never matches
        (2000000005, "SPRINGFIELD", "ZZ", 5),  # tied on lines and claims: XX before ZZ
        (2000000006, "AURORA", "ZZ", 5),  # tied again: AURORA before SPRINGFIELD
        (2000000007, "AURORA", None, 5),  # a blank state comes after every state
        (2000000008, None, "IL", None),  # a blank city is listed too; unknown claims count 0
        (2000000009, "SPRINGFIELD", "IL", 3),  # matched: not listed
        (2000000010, "ST.LOUIS", "MO", 1),  # matched under the new spelling rule: not listed
    ]
    places = unmatched_places(match_cities(clean(lines), cities()))
    assert list(places.columns) == UNMATCHED_CITIES.computed_names
    assert rows(places, ["rank"]) == [
        dict(presc_city=city, presc_state=state, lines=n, claims=claims, prescribers=p, rank=r)
        for r, (city, state, n, claims, p) in enumerate(
            [
                ("NOWHERE", "PA", 2, 150, 2),
                ("ELSEWHERE", "OH", 2, 10, 1),
                ("SPRINGFIELD", "XX", 1, 5, 1),
                ("AURORA", "ZZ", 1, 5, 1),
                ("SPRINGFIELD", "ZZ", 1, 5, 1),
                ("AURORA", None, 1, 5, 1),
                (None, "IL", 1, 0, 1),
            ],
            start=1,
        )
    ]


def test_duplicate_key_without_optional_columns_reports_the_populous_row():
    # without county_fips, lat and lng to tell the two Franklins apart, the ids given at
    # staging still make the lookup and the report agree on which is which, in any row order
    raw = raw_cities().drop("county_fips", "lat", "lng")
    for dim in (stage_cities(raw), stage_cities(raw.order_by(ibis.desc("county_name")))):
        report = city_report(match_cities(clean(LINES), dim), dim)
        franklin = [r for r in rows(report) if r["city"] == "FRANKLIN"]
        assert [(r["county_name"], r["trx_counts"]) for r in franklin] == [("VENANGO", 7)]


def test_new_rule_merges_no_two_bundled_cities_the_old_rule_kept_apart():
    # the rule before issue 12: punctuation removed, blanks collapsed, a leading ST/FT/MT
    def old_key(name):
        text = " ".join(re.sub(r"[^\w\s]|_", "", name.upper()).split())
        for short, long in (("ST ", "SAINT "), ("FT ", "FORT "), ("MT ", "MOUNT ")):
            text = long + text[len(short) :] if text.startswith(short) else text
        return text

    dim = ibis.read_parquet(bundled("us_cities_dimension.parquet"))
    dim = dim.mutate(row=ibis.row_number())
    named = dim.select("row", "state_id", name=dim.city).union(
        dim.select("row", "state_id", name=dim.city_ascii)
    )
    keyed = named.mutate(key=normalise_city_name(named.name)).to_pyarrow().to_pylist()
    rows_by_new, old_keys_by_new = defaultdict(set), defaultdict(set)
    for r in keyed:
        rows_by_new[r["state_id"], r["key"]].add(r["row"])
        old_keys_by_new[r["state_id"], r["key"]].add(old_key(r["name"]))
    rows_by_old = defaultdict(set)
    for r in keyed:
        rows_by_old[r["state_id"], old_key(r["name"])].add(r["row"])
    # every group of rows under one new key was already one group under some old key
    for key, group in rows_by_new.items():
        if len(group) > 1:
            assert any(group <= rows_by_old[key[0], old] for old in old_keys_by_new[key]), key
    # the keys the new rule merges are one row's accented and plain spellings, 66 of them
    merged = {key: rows_by_new[key] for key, olds in old_keys_by_new.items() if len(olds) > 1}
    assert len(merged) == 66 and all(len(rows) == 1 for rows in merged.values())
    assert ("PR", "MAYAGUEZ") in merged and ("CO", "CANONCITY") in merged
