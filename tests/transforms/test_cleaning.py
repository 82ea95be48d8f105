"""The cleaned fact, per prescriber and place: names, places, experience, imputed claims."""

import ibis

from healthanalytics.layouts import RAW_COLUMNS
from healthanalytics.transforms.cleaning import (
    cleaning_counts,
    drugs_per_prescriber,
    prescriber_places,
)
from tests.transforms.conftest import rows


def kept(lines):
    """Kept raw lines; each line sets some canonical columns, the rest are null."""
    data = {name: [line.get(name) for line in lines] for name in RAW_COLUMNS}
    return ibis.memtable(data, schema={name: "string" for name in RAW_COLUMNS})


def test_names_places_experience_and_numbers():
    quinn = dict(
        npi="1234567893",
        first_name=" Rachel ",
        last_name="QUINN",
        state="wi",
        years_of_exp="= 12.0",
        brand_name="LYRICA",
    )
    table = kept(
        [
            # the real file's quirks: blanks around names, lower case, `= 12.0`
            {
                **quinn,
                "city": " fort atkinson ",
                "claims": "13",
                "day_supply": "366",
                "drug_cost": "1159.13",
            },
            # the same place spelled the same once cleaned: one row
            {
                **quinn,
                "city": "FORT ATKINSON",
                "claims": " 20 ",
                "day_supply": "30",
                "drug_cost": "",
            },
            # no first name, empty numbers, experience without digits, blank city
            dict(
                npi="9876543210",
                last_name="ACME CLINIC",
                city="  ",
                state="NY",
                years_of_exp="n/a",
                claims="20",
            ),
        ]
    )
    assert rows(prescriber_places(table)) == [
        dict(
            presc_id=1234567893,
            presc_fullname="Rachel QUINN",
            presc_city="FORT ATKINSON",
            presc_state="WI",
            country_name="USA",
            years_of_exp=12,
            lines=2,
            trx_cnt=33,
            total_day_supply=396.0,
            total_drug_cost=1159.13,
            trx_unimputed=0,
            npi_luhn_failures=0,
        ),
        dict(
            presc_id=9876543210,
            presc_fullname="ACME CLINIC",
            presc_city=None,
            presc_state="NY",
            country_name="USA",
            years_of_exp=None,
            lines=1,
            trx_cnt=20,
            total_day_supply=None,
            total_drug_cost=None,
            trx_unimputed=0,
            npi_luhn_failures=1,  # counted, not rejected
        ),
    ]


def test_missing_claims_take_the_prescribers_rounded_mean():
    table = kept(
        [
            dict(npi="1111111111", city="A", claims="10"),
            dict(npi="1111111111", city="A", claims="13"),
            dict(npi="1111111111", city="A", claims=None),  # mean 11.5 rounds to 12
            dict(npi="2222222222", city="A", claims=None),  # no known count: stays null
            dict(npi="2222222222", city="A", claims=""),
            # (text that is not a number never gets here: staging quarantines its line)
            dict(npi="3333333333", city="A", claims="1,234"),  # grouped digits: 1234
            dict(npi="3333333333", city="A", claims="40"),
            dict(npi="3333333333", city="A", claims=" \t"),  # blank: mean of 1234, 40, 13: 429
            dict(npi="3333333333", city="A", claims=" 12.5 "),  # blanks around; half up: 13
            # the mean is the prescriber's, across all of their places
            dict(npi="4444444444", city="A", claims="10"),
            dict(npi="4444444444", city="A", claims="21"),
            dict(npi="4444444444", city="B", claims=None),  # mean of 10, 21, 12: 14.3 -> 14
            dict(npi="4444444444", city="B", claims="12.4"),  # claims are whole: 12
        ]
    )
    got = rows(prescriber_places(table).select("presc_id", "presc_city", "lines", "trx_cnt"))
    assert got == [
        dict(presc_id=1111111111, presc_city="A", lines=3, trx_cnt=35),
        dict(presc_id=2222222222, presc_city="A", lines=2, trx_cnt=None),
        dict(presc_id=3333333333, presc_city="A", lines=4, trx_cnt=1716),
        dict(presc_id=4444444444, presc_city="A", lines=2, trx_cnt=31),
        dict(presc_id=4444444444, presc_city="B", lines=2, trx_cnt=26),
    ]
    assert rows(cleaning_counts(prescriber_places(table))) == [
        dict(rows_clean=13, trx_unimputed=2, npi_luhn_failures=13)
    ]


def test_experience_takes_the_first_run_of_digits():
    values = ["= 12.0", "7", "  30 years", "abc", None, "= 0.0"]
    table = kept([dict(npi=f"100000000{i}", years_of_exp=value) for i, value in enumerate(values)])
    got = rows(prescriber_places(table).select("presc_id", "years_of_exp"), ["presc_id"])
    assert [r["years_of_exp"] for r in got] == [12, 7, 30, None, None, 0]


def test_npis_beyond_32_bits_stay_exact():
    # RULES: presc_id is a 64-bit integer; as int32 these would overflow or become null
    table = kept([dict(npi="2147483648"), dict(npi="9999999999"), dict(npi=" 1234567893 ")])
    places = prescriber_places(table)
    assert [r["presc_id"] for r in rows(places.select("presc_id"))] == [
        1234567893,
        2147483648,
        9999999999,
    ]
    assert places.schema()["presc_id"] == ibis.dtype("int64")


def test_drugs_per_prescriber_keep_specialty_drug_fills_and_beneficiaries():
    doc = dict(npi="1234567893", specialty=" Internal Medicine ", brand_name="LIPITOR",
               generic_name="ATORVASTATIN CALCIUM")  # fmt: skip
    table = kept(
        [
            dict(doc, claims="12", day_supply="90", drug_cost="10.5", bene_count="11"),
            # the same prescriber and drug again (years stacked): summed into one row
            dict(doc, npi=" 1234567893", claims="20", day_supply="30", drug_cost="1"),
            # names as newer CMS files write them: one drug with the upper-case spelling
            dict(doc, brand_name=" Lipitor", claims=None, day_supply="60", drug_cost="2"),
            # a suppressed claim count stays unknown (not imputed), its line counted
            dict(doc, brand_name="ATORVASTATIN CALCIUM", claims="", day_supply="300",
                 bene_count=""),
            # a blank specialty and blank generic name are null; nothing known: nulls
            dict(npi="1003000126", specialty=" ", brand_name="X", generic_name=None),
        ]
    )  # fmt: skip
    assert rows(drugs_per_prescriber(table), ["presc_id", "brand_name"]) == [
        dict(presc_id=1003000126, specialty=None, brand_name="X", generic_name=None, lines=1,
             claims=None, claims_unknown=1, day_supply=None, fills=None, drug_cost=None,
             bene_count=None),
        dict(presc_id=1234567893, specialty="Internal Medicine", brand_name="ATORVASTATIN CALCIUM",
             generic_name="ATORVASTATIN CALCIUM", lines=1, claims=None, claims_unknown=1,
             day_supply=300.0, fills=10.0, drug_cost=None, bene_count=None),
        dict(presc_id=1234567893, specialty="Internal Medicine", brand_name="LIPITOR",
             generic_name="ATORVASTATIN CALCIUM", lines=3, claims=32, claims_unknown=1,
             day_supply=180.0, fills=6.0, drug_cost=13.5, bene_count=11),
    ]  # fmt: skip
