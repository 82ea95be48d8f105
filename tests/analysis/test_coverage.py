"""The map's coverage of kept lines, on DuckDB: tiny tables compared whole."""

from __future__ import annotations

import ibis

from healthanalytics.analysis.coverage import claims_by_generic, map_coverage, unmapped_generics
from tests.transforms.conftest import rows

DRUG_MAP = ibis.memtable(
    {
        "generic_name": ["ATORVASTATIN CALCIUM", "LOSARTAN POTASSIUM"],
        "ingredient_key": ["ATORVASTATIN", "LOSARTAN"],
    }
)


def lines_table(data: list[tuple[str | None, int | None]]) -> ibis.Table:
    return ibis.memtable(
        {"generic_name": [g for g, _ in data], "claims": [c for _, c in data]},
        schema={"generic_name": "string", "claims": "int64"},
    )


LINES = lines_table(
    [
        ("ATORVASTATIN CALCIUM", 20),  # as the map writes it
        ("ATORVASTATIN CALCIUM", 11),
        ("ATORVASTATIN", 30),  # another spelling of a mapped molecule: covered
        ("LOSARTAN POTASSIUM", None),  # claims unknown: a line, no claims
        ("ZILEUTON", 15),  # not in the map
        ("ZILEUTON", 15),
        ("BACITRACIN", 40),  # not in the map, most claims
        ("NYSTATIN", 30),  # fewer claims than BACITRACIN, as many as ZILEUTON
        (None, 12),  # no generic name: no key, not covered
    ]
)


def test_claims_by_generic(con):
    assert rows(claims_by_generic(LINES, DRUG_MAP), ["generic_name"]) == [
        {"generic_name": "ATORVASTATIN", "ingredient_key": "ATORVASTATIN", "mapped": True,
         "lines": 1, "claims": 30},
        {"generic_name": "ATORVASTATIN CALCIUM", "ingredient_key": "ATORVASTATIN",
         "mapped": True, "lines": 2, "claims": 31},
        {"generic_name": "BACITRACIN", "ingredient_key": "BACITRACIN", "mapped": False,
         "lines": 1, "claims": 40},
        {"generic_name": "LOSARTAN POTASSIUM", "ingredient_key": "LOSARTAN", "mapped": True,
         "lines": 1, "claims": 0},
        {"generic_name": "NYSTATIN", "ingredient_key": "NYSTATIN", "mapped": False, "lines": 1,
         "claims": 30},
        {"generic_name": "ZILEUTON", "ingredient_key": "ZILEUTON", "mapped": False, "lines": 2,
         "claims": 30},
        {"generic_name": None, "ingredient_key": None, "mapped": False, "lines": 1,
         "claims": 12},
    ]  # fmt: skip


def test_map_coverage(con):
    assert rows(map_coverage(claims_by_generic(LINES, DRUG_MAP))) == [
        {"lines": 9, "claims": 173, "mapped_lines": 4, "mapped_claims": 61,
         "claims_mapped_share": 61 / 173},
    ]  # fmt: skip


def test_map_coverage_without_claims(con):
    # no known claim at all: no share rather than a division by zero
    empty = lines_table([("ZILEUTON", None), ("ATORVASTATIN", None)])
    assert rows(map_coverage(claims_by_generic(empty, DRUG_MAP))) == [
        {"lines": 2, "claims": 0, "mapped_lines": 1, "mapped_claims": 0,
         "claims_mapped_share": None},
    ]  # fmt: skip


def test_most_claimed_unmapped_generics(con):
    # ZILEUTON and NYSTATIN tie on claims: more lines first; the nameless lines last
    assert rows(unmapped_generics(claims_by_generic(LINES, DRUG_MAP)), ["rank"]) == [
        {"generic_name": "BACITRACIN", "ingredient_key": "BACITRACIN", "lines": 1, "claims": 40,
         "rank": 1},
        {"generic_name": "ZILEUTON", "ingredient_key": "ZILEUTON", "lines": 2, "claims": 30,
         "rank": 2},
        {"generic_name": "NYSTATIN", "ingredient_key": "NYSTATIN", "lines": 1, "claims": 30,
         "rank": 3},
        {"generic_name": None, "ingredient_key": None, "lines": 1, "claims": 12, "rank": 4},
    ]  # fmt: skip


def test_unmapped_generics_limit(con):
    # the limit keeps the first ranks only
    assert rows(unmapped_generics(claims_by_generic(LINES, DRUG_MAP), limit=1)) == [
        {"generic_name": "BACITRACIN", "ingredient_key": "BACITRACIN", "lines": 1, "claims": 40,
         "rank": 1},
    ]  # fmt: skip
