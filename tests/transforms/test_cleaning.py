"""The cleaned fact table: names, cities, experience, imputed claim counts, numbers."""

import ibis

from healthanalytics.layouts import RAW_COLUMNS
from healthanalytics.transforms.cleaning import clean_prescriptions
from tests.transforms.conftest import rows


def kept(lines):
    """Kept raw rows; each line sets some canonical columns, the rest are null."""
    data = {name: [line.get(name) for line in lines] for name in RAW_COLUMNS}
    return ibis.memtable(data, schema={name: "string" for name in RAW_COLUMNS})


def test_names_places_experience_and_numbers():
    table = kept(
        [
            # every field set, with the real file's quirks
            dict(
                npi="1234567893",
                first_name=" Rachel ",
                last_name="QUINN",
                city=" fort atkinson ",
                state="wi",
                specialty="Family Practice",
                brand_name="LYRICA",
                generic_name="PREGABALIN",
                years_of_exp="= 12.0",
                claims="13",
                day_supply="366",
                drug_cost="1159.13",
                bene_count="11",
            ),
            # no first name, empty numbers, experience without digits
            dict(
                npi="9876543210",
                last_name="ACME CLINIC",
                city="NYC",
                state="NY",
                brand_name="X",
                years_of_exp="n/a",
                claims="20",
                day_supply=None,
                drug_cost=None,
                bene_count=None,
            ),
        ]
    )
    assert rows(clean_prescriptions(table)) == [
        dict(
            presc_id=1234567893,
            presc_fullname="Rachel QUINN",
            presc_city="FORT ATKINSON",
            presc_state="WI",
            country_name="USA",
            specialty="Family Practice",
            drug_name="LYRICA",
            generic_name="PREGABALIN",
            years_of_exp=12,
            trx_cnt=13,
            total_day_supply=366.0,
            total_drug_cost=1159.13,
            bene_count=11,
        ),
        dict(
            presc_id=9876543210,
            presc_fullname="ACME CLINIC",
            presc_city="NYC",
            presc_state="NY",
            country_name="USA",
            specialty=None,
            drug_name="X",
            generic_name=None,
            years_of_exp=None,
            trx_cnt=20,
            total_day_supply=None,
            total_drug_cost=None,
            bene_count=None,
        ),
    ]


def test_missing_claims_take_the_prescribers_rounded_mean():
    table = kept(
        [
            dict(npi="1111111111", brand_name="A", claims="10"),
            dict(npi="1111111111", brand_name="B", claims="13"),
            dict(npi="1111111111", brand_name="C", claims=None),  # mean 11.5 rounds to 12
            dict(npi="2222222222", brand_name="A", claims=None),  # no known count: stays null
            dict(
                npi="3333333333", brand_name="A", claims="abc"
            ),  # not a number: treated as missing
            dict(npi="3333333333", brand_name="B", claims="40"),
        ]
    )
    got = rows(clean_prescriptions(table).select("presc_id", "drug_name", "trx_cnt"))
    assert got == [
        dict(presc_id=1111111111, drug_name="A", trx_cnt=10),
        dict(presc_id=1111111111, drug_name="B", trx_cnt=13),
        dict(presc_id=1111111111, drug_name="C", trx_cnt=12),
        dict(presc_id=2222222222, drug_name="A", trx_cnt=None),
        dict(presc_id=3333333333, drug_name="A", trx_cnt=40),
        dict(presc_id=3333333333, drug_name="B", trx_cnt=40),
    ]


def test_experience_takes_the_first_run_of_digits():
    values = ["= 12.0", "7", "  30 years", "abc", None, "= 0.0"]
    table = kept(
        [dict(npi="1234567893", brand_name=str(i), years_of_exp=v) for i, v in enumerate(values)]
    )
    got = [
        r["years_of_exp"]
        for r in rows(clean_prescriptions(table).select("drug_name", "years_of_exp"), ["drug_name"])
    ]
    assert got == [12, 7, 30, None, None, 0]


def test_npis_beyond_32_bits_stay_exact():
    # the brief read NPIs as int32: these overflowed or became null and were dropped
    table = kept([dict(npi="2147483648", brand_name="A"), dict(npi="9999999999", brand_name="A")])
    assert [r["presc_id"] for r in rows(clean_prescriptions(table).select("presc_id"))] == [
        2147483648,
        9999999999,
    ]
    assert clean_prescriptions(table).schema()["presc_id"] == ibis.dtype("int64")
