"""Ingredient keys: the rule in Python, and the same rule as an Ibis expression."""

from __future__ import annotations

import csv

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from healthanalytics.analysis.drug_classes import bundled_drug_classes
from healthanalytics.analysis.ingredients import (
    ingredient_key,
    ingredient_key_expr,
    release_base,
    release_base_expr,
)
from healthanalytics.io.inputs import bundled
from tests.conftest import SPARK_CONF
from tests.transforms.conftest import rows

# (generic name as written, its key)
KEYS = [
    ("ATORVASTATIN CALCIUM", "ATORVASTATIN"),  # a salt dropped
    ("ATORVASTATIN", "ATORVASTATIN"),  # no salt: the name itself
    ("atorvastatin calcium", "ATORVASTATIN"),  # any case
    ("AMLODIPINE BESYLATE/BENAZEPRIL HCL", "AMLODIPINE/BENAZEPRIL"),  # combination: sorted
    ("LOSARTAN/HYDROCHLOROTHIAZIDE", "HYDROCHLOROTHIAZIDE/LOSARTAN"),
    ("POTASSIUM CHLORIDE", "POTASSIUM CHLORIDE"),  # only salt words: the salt is the drug
    ("CALCIUM ACETATE", "CALCIUM ACETATE"),
    ("AMOXICILLIN/POTASSIUM CLAV", "AMOXICILLIN/CLAVULANATE"),  # CMS's abbreviation spelled out
    ("EMTRICITABINE/TENOFOV ALAFENAM", "EMTRICITABINE/TENOFOVIR ALAFENAMIDE"),  # cut at 30
    ("INSULIN GLARGINE,HUM.REC.ANLOG", "INSULIN GLARGINE"),  # a comma splits words
    ("INSULIN NPH HUM/REG INSULIN HM", "INSULIN NPH/INSULIN REGULAR"),  # one word order
    ("NITROFURANTOIN MONOHYD/M-CRYST", "NITROFURANTOIN"),  # a form, not a component
    ("DIMETHYL FUMARATE", "DIMETHYL FUMARATE"),  # fumarate is the drug here
    ("ACETAMINOPHEN WITH CODEINE", "ACETAMINOPHEN/CODEINE"),  # WITH joins components
    ("CHOLESTYRAMINE (WITH SUGAR)", "CHOLESTYRAMINE"),  # parentheses dropped
    ("PEG 3350/ELECTROLYTES", "ELECTROLYTES/POLYETHYLENE GLYCOL 3350"),  # two-word spelling
    ("  METFORMIN   HCL ", "METFORMIN"),  # stray blanks
    ("", None),  # no words: no key
    (" / ", None),
    (None, None),
]


@pytest.mark.parametrize(("name", "key"), KEYS)
def test_ingredient_key(name, key):
    assert ingredient_key(name) == key


def test_expression_on_duckdb_gives_the_same_keys(con):
    names = ibis.memtable({"generic_name": [n for n, _ in KEYS]}, schema={"generic_name": "string"})
    keyed = names.mutate(ingredient_key=ingredient_key_expr(names.generic_name))
    expected = [{"generic_name": n, "ingredient_key": k} for n, k in KEYS]
    assert rows(keyed, ["generic_name"]) == sorted(
        expected, key=lambda r: (r["generic_name"] is None, r["generic_name"] or "")
    )


# (brand name as written, without its release and dosage-form words)
RELEASE_BASES = [
    ("METFORMIN HCL ER", "METFORMIN HCL"),  # one suffix
    ("DILTIAZEM 24HR ER", "DILTIAZEM"),  # two
    ("GLUCOPHAGE XR", "GLUCOPHAGE"),  # a brand's suffix too: the brand stays its name
    ("bupropion xl", "BUPROPION"),  # any case
    ("ERYTHROMYCIN", "ERYTHROMYCIN"),  # a word that starts with a suffix is kept
    ("MESALAMINE DR CAPSULE ", "MESALAMINE"),  # a trailing blank
    ("ER", "ER"),  # only a suffix word: kept whole
    ("NURTEC ODT TABLET", "NURTEC ODT TABLET"),  # a suffix not at the end is kept
]


def test_release_base_in_python_and_on_duckdb(con):
    assert [release_base(name) for name, _ in RELEASE_BASES] == [b for _, b in RELEASE_BASES]
    names = ibis.memtable({"brand_name": [n for n, _ in RELEASE_BASES]})
    based = names.mutate(base=release_base_expr(names.brand_name))
    expected = [{"brand_name": n, "base": b} for n, b in RELEASE_BASES]
    assert rows(based, ["brand_name"]) == sorted(expected, key=lambda r: r["brand_name"])


def all_generic_names() -> list[str]:
    """Every generic of the map and of the generator's list."""
    with open(bundled("drugs.csv"), newline="") as handle:
        generated = {row["generic_name"] for row in csv.DictReader(handle)}
    return sorted(generated | {row.generic_name for row in bundled_drug_classes()})


def test_expression_agrees_with_python_on_every_known_name(con):
    names = all_generic_names()
    table = ibis.memtable({"generic_name": names})
    keyed = table.mutate(ingredient_key=ingredient_key_expr(table.generic_name))
    expected = [{"generic_name": n, "ingredient_key": ingredient_key(n)} for n in names]
    assert rows(keyed, ["generic_name"]) == expected


@pytest.mark.spark
def test_expression_on_spark_gives_the_same_keys(spark_in_process, tmp_path):
    from pyspark.sql import SparkSession

    # the worker's one in-process session (its executors without Python: no UDF slips in)
    spark = SparkSession.builder.master("local[1]").config(map=SPARK_CONF).getOrCreate()
    names = [n for n, _ in KEYS] + all_generic_names()
    # read from a file: a DataFrame made from Python objects needs Python on the executors
    pq.write_table(pa.table({"generic_name": pa.array(names, pa.string())}), tmp_path / "n.parquet")
    spark.read.parquet(str(tmp_path / "n.parquet")).createOrReplaceTempView("ingredient_names")
    table = ibis.pyspark.connect(spark).table("ingredient_names")
    keyed = table.mutate(ingredient_key=ingredient_key_expr(table.generic_name)).to_pyarrow()
    got = sorted(
        zip(*keyed.to_pydict().values(), strict=True), key=lambda r: (r[0] is None, r[0] or "")
    )
    assert got == sorted(
        ((n, ingredient_key(n)) for n in names), key=lambda r: (r[0] is None, r[0] or "")
    )
