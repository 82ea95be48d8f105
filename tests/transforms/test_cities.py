"""City-name normalising, ZIP counts, the dimension lookup and the city report."""

import ibis
import pytest

from healthanalytics.transforms.cities import (
    CITY_REPORT_COLUMNS,
    city_report,
    count_zips,
    match_cities,
    match_summary,
    normalise_city_name,
    stage_cities,
)
from tests.transforms.conftest import rows


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("St. Louis", "SAINT LOUIS"),  # dot removed, ST spelled out
        ("ST LOUIS", "SAINT LOUIS"),
        ("Saint Louis", "SAINT LOUIS"),
        ("Ft. Worth", "FORT WORTH"),
        ("  mt   vernon ", "MOUNT VERNON"),  # blanks trimmed and collapsed
        ("O'Fallon", "OFALLON"),  # punctuation removed, not replaced
        ("Winston-Salem", "WINSTONSALEM"),
        ("STANTON", "STANTON"),  # ST only as a leading word
        ("EAST ST LOUIS", "EAST ST LOUIS"),  # only a leading ST is spelled out
        ("Cañon City", "CAÑON CITY"),  # letters beyond ASCII are kept
    ],
)
def test_normalise_city_name(raw, expected):
    assert ibis.literal(raw).pipe(normalise_city_name).execute() == expected


@pytest.mark.parametrize(
    ("zips", "expected"),
    [("11229 11226 11225", 3), ("", 0), (None, 0), ("  60018   60649 ", 2), ("90210", 1)],
)
def test_count_zips(zips, expected):
    # a null zips crashed the brief; here it counts 0
    assert ibis.literal(zips, type="string").pipe(count_zips).execute() == expected


def cities():
    return stage_cities(
        ibis.memtable(
            {
                "city": [
                    "St. Louis",
                    "Franklin",
                    "Franklin",
                    "Cañon City",
                    "Springfield",
                    "Fort Worth",
                ],
                "city_ascii": [
                    "St. Louis",
                    "Franklin",
                    "Franklin",
                    "Canon City",
                    "Springfield",
                    "Fort Worth",
                ],
                "state_id": ["MO", "PA", "PA", "CO", "IL", "TX"],
                "state_name": [
                    "Missouri",
                    "Pennsylvania",
                    "Pennsylvania",
                    "Colorado",
                    "Illinois",
                    "Texas",
                ],
                "county_fips": [29510, 42121, 42021, 8043, 17167, 48439],
                "county_name": [
                    "St. Louis",
                    "Venango",
                    "Cambria",
                    "Fremont",
                    "Sangamon",
                    "Tarrant",
                ],
                "lat": [38.6, 41.4, 40.3, 38.4, 39.8, 32.8],
                "lng": [-90.2, -79.8, -78.9, -105.2, -89.6, -97.3],
                "population": [2_000_000, 8802, 293, 16000, 150000, 900_000],
                "zips": ["63101 63102", "16323", "15909", None, "62701", "76101"],
            }
        )
    )


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
    (1000000003, "FRANKLIN", "PA", 7),  # duplicate key: the populous Venango row stands
    (1000000004, "CANON CITY", "CO", 3),  # matched through city_ascii
    (1000000007, "FT WORTH", "TX", None),  # only unknown claims: a count of 0, not null
    (1000000005, "NOWHERE", "PA", 100),  # no such city
    (1000000006, "FRANKLIN", "OH", 1),  # same name, other state: no match
]


def test_city_report_counts_each_prescriber_once():
    matched = match_cities(clean(LINES), cities())
    report = city_report(matched, cities())
    assert report.columns == CITY_REPORT_COLUMNS
    assert rows(report) == [
        dict(
            city="CAÑON CITY",
            state_name="COLORADO",
            county_name="FREMONT",
            population=16000,
            zip_counts=0,
            trx_counts=3,
            presc_counts=1,
            state_id="CO",
            lat=38.4,
            lng=-105.2,
        ),
        dict(
            city="FORT WORTH",
            state_name="TEXAS",
            county_name="TARRANT",
            population=900_000,
            zip_counts=1,
            trx_counts=0,
            presc_counts=1,
            state_id="TX",
            lat=32.8,
            lng=-97.3,
        ),
        dict(
            city="FRANKLIN",
            state_name="PENNSYLVANIA",
            county_name="VENANGO",
            population=8802,
            zip_counts=1,
            trx_counts=7,
            presc_counts=1,
            state_id="PA",
            lat=41.4,
            lng=-79.8,
        ),
        dict(
            city="ST. LOUIS",
            state_name="MISSOURI",
            county_name="ST. LOUIS",
            population=2_000_000,
            zip_counts=2,
            trx_counts=15,
            presc_counts=2,
            state_id="MO",
            lat=38.6,
            lng=-90.2,
        ),
    ]


def test_match_summary_reports_rows_and_claims_matched():
    matched = match_cities(clean(LINES), cities())
    assert rows(match_summary(matched)) == [
        dict(rows=8, rows_matched=6, claims=126, claims_matched=25)
    ]
    # a prescriber line never matches two dimension rows
    assert matched.count().execute() == len(LINES)


def test_duplicate_key_without_optional_columns_reports_the_populous_row():
    # the lookup and the report number the rows apart: without county_fips, lat and lng to
    # tell the two Franklins apart, both must still agree on which is which
    bare = cities().mutate(
        county_fips=ibis.null("int64"), lat=ibis.null("float64"), lng=ibis.null("float64")
    )
    for dim in (bare, bare.order_by(ibis.desc("county_name"))):
        report = city_report(match_cities(clean(LINES), dim), dim)
        franklin = [r for r in rows(report) if r["city"] == "FRANKLIN"]
        assert [(r["county_name"], r["trx_counts"]) for r in franklin] == [("VENANGO", 7)]
