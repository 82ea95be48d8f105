"""Market share and concentration, on DuckDB: tiny tables compared whole."""

from __future__ import annotations

import csv

import ibis
import pytest

from healthanalytics.analysis.concentration import (
    market_products,
    market_summary,
    top_writers_shares,
)
from healthanalytics.analysis.coverage import map_coverage
from healthanalytics.analysis.deciles import generic_keys, market_lines, market_prescribers
from healthanalytics.analysis.ingredients import ingredient_key
from healthanalytics.analysis.market import MarketBasket
from healthanalytics.io.inputs import bundled
from tests.analysis.test_deciles import LINES, MAP_KEYS, PLACES, STATINS, drugs_table
from tests.transforms.conftest import rows

BASKET = MarketBasket("class", "HMG-CoA Reductase Inhibitor", STATINS,
                      ("ATORVASTATIN", "ATORVASTATIN CALCIUM", "SIMVASTATIN"))  # fmt: skip


def test_products_shares_and_brand_or_generic():
    keys = generic_keys(LINES, MAP_KEYS, STATINS)
    products = market_products(market_lines(LINES, keys), keys)
    # fills: LIPITOR 30 (one line without day supply adds none), ATORVASTATIN 10,
    # SIMVASTATIN 3, ZOCOR 2: 45 in all; cost 150 + 4 + 2 + 9 = 165
    assert rows(products, ["brand_name"]) == [
        # a generic: CMS writes its brand name as its generic name; a suppressed count
        dict(brand_name="ATORVASTATIN", generic_name="ATORVASTATIN",
             ingredient_key="ATORVASTATIN", product_type="generic", lines=1, claims=0,
             claims_unknown=1, fills=10.0, drug_cost=4.0, writers=1, fills_share=10 / 45,
             cost_share=4 / 165),
        dict(brand_name="LIPITOR", generic_name="ATORVASTATIN CALCIUM",
             ingredient_key="ATORVASTATIN", product_type="brand", lines=2, claims=45,
             claims_unknown=0, fills=30.0, drug_cost=150.0, writers=2, fills_share=30 / 45,
             cost_share=150 / 165),
        dict(brand_name="SIMVASTATIN", generic_name="SIMVASTATIN", ingredient_key="SIMVASTATIN",
             product_type="generic", lines=1, claims=11, claims_unknown=0, fills=3.0,
             drug_cost=2.0, writers=1, fills_share=3 / 45, cost_share=2 / 165),
        dict(brand_name="ZOCOR", generic_name="SIMVASTATIN", ingredient_key="SIMVASTATIN",
             product_type="brand", lines=1, claims=12, claims_unknown=0, fills=2.0,
             drug_cost=9.0, writers=1, fills_share=2 / 45, cost_share=9 / 165),
    ]  # fmt: skip


RELEASE_KEYS = ("ALBUTEROL", "BUPROPION", "DILTIAZEM", "GLIPIZIDE", "METFORMIN")


def test_products_generic_despite_release_suffixes():
    lines = drugs_table(
        [
            (1, "IM", "METFORMIN HCL", "METFORMIN HCL", 11, 30.0, 1.0),  # brand is generic
            (1, "IM", "METFORMIN HCL ER", "METFORMIN HCL", 11, 30.0, 1.0),  # ER appended
            (1, "IM", "GLUCOPHAGE XR", "METFORMIN HCL", 11, 30.0, 1.0),  # a real brand's XR
            (1, "IM", "GLIPIZIDE ER", "GLIPIZIDE", 11, 30.0, 1.0),
            (1, "IM", "DILTIAZEM 24HR ER", "DILTIAZEM HCL", 11, 30.0, 1.0),  # two words, salt
            (1, "IM", "BUPROPION XL", "BUPROPION HCL", 11, 30.0, 1.0),  # salt left out
            (1, "IM", "PROAIR HFA", "ALBUTEROL SULFATE", 11, 30.0, 1.0),  # brand with a form
            (1, "IM", "ALBUTEROL SULFATE HFA", "ALBUTEROL SULFATE", 11, 30.0, 1.0),
            (1, "IM", "ER", "ALBUTEROL SULFATE", 11, 30.0, 1.0),  # only a suffix word: kept
        ]
    )
    keys = generic_keys(lines, RELEASE_KEYS, RELEASE_KEYS)
    products = market_products(market_lines(lines, keys), keys)
    types = {
        "ALBUTEROL SULFATE HFA": "generic", "BUPROPION XL": "generic",
        "DILTIAZEM 24HR ER": "generic", "ER": "brand", "GLIPIZIDE ER": "generic",
        "GLUCOPHAGE XR": "brand", "METFORMIN HCL": "generic", "METFORMIN HCL ER": "generic",
        "PROAIR HFA": "brand",
    }  # fmt: skip
    generic_of = {"ALBUTEROL SULFATE HFA": "ALBUTEROL SULFATE", "BUPROPION XL": "BUPROPION HCL",
                  "DILTIAZEM 24HR ER": "DILTIAZEM HCL", "ER": "ALBUTEROL SULFATE",
                  "GLIPIZIDE ER": "GLIPIZIDE", "GLUCOPHAGE XR": "METFORMIN HCL",
                  "METFORMIN HCL": "METFORMIN HCL", "METFORMIN HCL ER": "METFORMIN HCL",
                  "PROAIR HFA": "ALBUTEROL SULFATE"}  # fmt: skip
    key_of = {"ALBUTEROL SULFATE": "ALBUTEROL", "BUPROPION HCL": "BUPROPION",
              "DILTIAZEM HCL": "DILTIAZEM", "GLIPIZIDE": "GLIPIZIDE",
              "METFORMIN HCL": "METFORMIN"}  # fmt: skip
    assert rows(products, ["brand_name"]) == [
        dict(brand_name=brand, generic_name=generic_of[brand],
             ingredient_key=key_of[generic_of[brand]], product_type=kind, lines=1, claims=11,
             claims_unknown=0, fills=1.0, drug_cost=1.0, writers=1, fills_share=1 / 9,
             cost_share=1 / 9)
        for brand, kind in types.items()
    ]  # fmt: skip


# The bundled list's products written as another name than their generic name that are
# generics all the same (its other such names are brands): read off data/drugs.csv by hand.
GENERICS_NAMED_OTHERWISE = {
    "ALFUZOSIN HCL ER", "BUDESONIDE EC", "BUPROPION HCL SR", "BUPROPION XL", "CEFUROXIME",
    "CITALOPRAM HBR", "CLOPIDOGREL", "DILTIAZEM 24HR ER", "DIVALPROEX SODIUM ER", "ERYTHROMYCIN",
    "GLIPIZIDE ER", "ISOSORBIDE MONONITRATE ER", "MESALAMINE DR", "METFORMIN HCL ER",
    "METHYLPHENIDATE ER", "MORPHINE SULFATE ER", "NEBIVOLOL", "NIFEDIPINE ER",
    "ONDANSETRON ODT", "OXYBUTYNIN CHLORIDE ER", "PRAMIPEXOLE DIHYDROCHLORIDE", "RANOLAZINE ER",
    "RIZATRIPTAN", "TACROLIMUS CAPSULE", "TOLTERODINE TARTRATE ER", "TRIAMCINOLONE ACETONIDE PASTE",
    "VALACYCLOVIR", "VENLAFAXINE HCL ER", "VERAPAMIL ER",
}  # fmt: skip


def test_products_of_the_bundled_list_brand_or_generic():
    with open(bundled("drugs.csv"), newline="", encoding="utf-8") as handle:
        pairs = sorted({(r["brand_name"], r["generic_name"]) for r in csv.DictReader(handle)})
    lines = drugs_table([(1, "IM", brand, generic, 11, 30.0, 1.0) for brand, generic in pairs])
    every_key = sorted({ingredient_key(generic) for _, generic in pairs})
    keys = generic_keys(lines, every_key, every_key)
    got = rows(
        market_products(market_lines(lines, keys), keys).select(
            "brand_name", "generic_name", "product_type"
        ),
        ["brand_name", "generic_name"],
    )
    # a name written as the generic name is a generic (as CMS writes them)
    assert got == [
        dict(brand_name=brand, generic_name=generic,
             product_type="generic" if brand == generic or brand in GENERICS_NAMED_OTHERWISE
             else "brand")
        for brand, generic in pairs
    ]  # fmt: skip


def writers(fills: list[float]) -> ibis.Table:
    return ibis.memtable(
        {"presc_id": list(range(len(fills))), "fills": fills},
        schema={"presc_id": "int64", "fills": "float64"},
    )


def test_top_writers_take_the_ceiling_of_their_share_of_writers():
    # 20 writers: the top 1 % and 5 % are one writer (ceil), the top 10 % two; non-writers
    # (0 fills) are not counted among the writers
    got = rows(top_writers_shares(writers([10.0, 5.0] + [1.0] * 18 + [0.0] * 30)))
    assert got == [
        dict(top_1pct_fills_share=10 / 33, top_5pct_fills_share=10 / 33,
             top_10pct_fills_share=15 / 33)
    ]  # fmt: skip
    # exactly 100 writers: 1 %, 5 % and 10 % are 1, 5 and 10 writers, not one more
    got = rows(top_writers_shares(writers([1.0] * 100)))
    assert got == [
        dict(top_1pct_fills_share=0.01, top_5pct_fills_share=0.05, top_10pct_fills_share=0.1)
    ]
    # no writer: no share
    got = rows(top_writers_shares(writers([0.0, 0.0])))
    assert got == [
        dict(top_1pct_fills_share=None, top_5pct_fills_share=None, top_10pct_fills_share=None)
    ]


def test_summary_hhi_and_shares():
    keys = generic_keys(LINES, MAP_KEYS, STATINS)
    lines = market_lines(LINES, keys)
    prescribers = market_prescribers(LINES, PLACES, lines)
    products = market_products(lines, keys)
    summary = rows(market_summary(BASKET, prescribers, products, map_coverage(keys)))
    shares = [10 / 45, 30 / 45, 3 / 45, 2 / 45]
    assert summary == [
        dict(market="HMG-CoA Reductase Inhibitor", market_kind="class", basket_generics=3,
             products=4, brand_products=2, lines=5, claims=68, fills=45.0, drug_cost=165.0,
             writers=2, prescribers=5, brand_fills_share=32 / 45,
             hhi=pytest.approx(sum((100 * s) ** 2 for s in shares)),
             # two writers: the top 1, 5 and 10 % are the largest one, 30 of 45 fills
             top_1pct_fills_share=30 / 45, top_5pct_fills_share=30 / 45,
             top_10pct_fills_share=30 / 45,
             claims_unknown_share=1 / 5,  # the suppressed ATORVASTATIN line
             # NYSTATIN's 15 of 153 known claims are not in the map
             claims_mapped_share=138 / 153),
    ]  # fmt: skip


def test_hhi_of_one_product_is_10000_and_of_equal_products_10000_over_n():
    one = drugs_table([(1, "a", "LIPITOR", "ATORVASTATIN CALCIUM", 12, 30.0, 1.0)])
    four = drugs_table(
        [(i, "a", name, "SIMVASTATIN", 12, 30.0, 1.0)
         for i, name in enumerate(["A", "B", "C", "SIMVASTATIN"])]
    )  # fmt: skip
    for table, hhi in ((one, 10_000.0), (four, 2_500.0)):
        keys = generic_keys(table, MAP_KEYS, STATINS)
        lines = market_lines(table, keys)
        places = table.select("presc_id", presc_state=ibis.literal("NY"))
        summary = market_summary(
            BASKET,
            market_prescribers(table, places, lines),
            market_products(lines, keys),
            map_coverage(keys),
        )
        assert rows(summary.select("hhi")) == [dict(hhi=pytest.approx(hhi))]


def test_an_empty_market_has_one_summary_row_of_zeros_and_no_shares():
    keys = generic_keys(LINES, MAP_KEYS, ("ROSUVASTATIN",))
    lines = market_lines(LINES, keys)
    products = market_products(lines, keys)
    assert rows(products) == []
    basket = MarketBasket("names", "ROSUVASTATIN", ("ROSUVASTATIN",), ("ROSUVASTATIN CALCIUM",))
    summary = market_summary(
        basket, market_prescribers(LINES, PLACES, lines), products, map_coverage(keys)
    )
    assert rows(summary) == [
        dict(market="ROSUVASTATIN", market_kind="names", basket_generics=1, products=0,
             brand_products=0, lines=0, claims=0, fills=0.0, drug_cost=0.0, writers=0,
             prescribers=5, brand_fills_share=None, hhi=None, top_1pct_fills_share=None,
             top_5pct_fills_share=None, top_10pct_fills_share=None, claims_unknown_share=None,
             claims_mapped_share=138 / 153),
    ]  # fmt: skip
