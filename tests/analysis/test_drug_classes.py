"""The drug-class map: the bundled file's integrity, and a broken map refused in one line."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from healthanalytics.analysis.drug_classes import (
    COLUMNS,
    THERAPEUTIC_AREAS,
    DrugClassMapError,
    bundled_drug_classes,
    drug_class_table,
    load_drug_classes,
)
from healthanalytics.analysis.ingredients import ingredient_key
from healthanalytics.io.inputs import bundled


def bundled_rows() -> list[dict[str, str]]:
    with open(bundled("drug_classes.csv"), newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_generic_of_the_generator_is_mapped():
    with open(bundled("drugs.csv"), newline="") as handle:
        generated = {row["generic_name"] for row in csv.DictReader(handle)}
    mapped = {row.generic_name for row in bundled_drug_classes()}
    assert sorted(generated - mapped) == []
    assert len(mapped) >= 400  # and a few hundred more of the most prescribed


def test_bundled_file_is_as_the_rules_say():
    rows = bundled_rows()
    assert tuple(rows[0]) == COLUMNS
    assert [n for n, c in Counter(r["generic_name"] for r in rows).items() if c > 1] == []
    for row in rows:
        # the keys and components are the normalisation's, the flag follows the components
        assert row["ingredient_key"] == ingredient_key(row["generic_name"]), row
        assert row["components"] == row["ingredient_key"], row
        assert row["is_combination"] == ("true" if "/" in row["components"] else "false"), row
        assert row["therapeutic_area"] in THERAPEUTIC_AREAS, row
        assert row["epc"].strip() == row["epc"] and row["epc"], row
    # every area of the vocabulary is used
    assert sorted({r["therapeutic_area"] for r in rows}) == sorted(THERAPEUTIC_AREAS)


def test_a_few_rows_read_whole():
    by_name = {row.generic_name: row for row in bundled_drug_classes()}
    assert drug_class_table(
        tuple(by_name[n] for n in ("ATORVASTATIN CALCIUM", "SITAGLIPTIN PHOS/METFORMIN HCL"))
    ).to_pylist() == [
        {
            "generic_name": "ATORVASTATIN CALCIUM",
            "ingredient_key": "ATORVASTATIN",
            "epc": "HMG-CoA Reductase Inhibitor",
            "therapeutic_area": "cardiovascular",
            "is_combination": False,
            "components": "ATORVASTATIN",
        },
        {
            "generic_name": "SITAGLIPTIN PHOS/METFORMIN HCL",
            "ingredient_key": "METFORMIN/SITAGLIPTIN",
            "epc": "Biguanide + Dipeptidyl Peptidase 4 Inhibitor",
            "therapeutic_area": "diabetes",
            "is_combination": True,
            "components": "METFORMIN/SITAGLIPTIN",
        },
    ]
    assert by_name["SITAGLIPTIN PHOS/METFORMIN HCL"].classes == (
        "Biguanide",
        "Dipeptidyl Peptidase 4 Inhibitor",
    )


HEADER = ",".join(COLUMNS)
GOOD = (
    "LISINOPRIL,LISINOPRIL,Angiotensin Converting Enzyme Inhibitor,cardiovascular,false,LISINOPRIL"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a column missing from the header
        (
            "generic_name,epc\n",
            "m.csv: line 1: expected the columns generic_name, ingredient_key, epc, "
            "therapeutic_area, is_combination, components, found generic_name, epc",
        ),
        # a generic named twice
        (
            f"{HEADER}\n{GOOD}\n{GOOD}\n",
            "m.csv: line 3: LISINOPRIL is listed twice (first at line 2)",
        ),
        # a key the normalisation does not give
        (
            f"{HEADER}\nLOSARTAN POTASSIUM,LOSARTAN POTASSIUM,Angiotensin 2 Receptor Blocker,"
            "cardiovascular,false,LOSARTAN POTASSIUM\n",
            "m.csv: line 2: LOSARTAN POTASSIUM: ingredient_key 'LOSARTAN POTASSIUM' should be "
            "'LOSARTAN'",
        ),
        # a combination flagged as a single drug
        (
            f"{HEADER}\nCARBIDOPA/LEVODOPA,CARBIDOPA/LEVODOPA,Aromatic Amino Acid,neurology,false,"
            "CARBIDOPA/LEVODOPA\n",
            "m.csv: line 2: CARBIDOPA/LEVODOPA: is_combination is false but it has 2 component(s)",
        ),
        # a joined class on a single drug
        (
            f"{HEADER}\nLISINOPRIL,LISINOPRIL,A + B,cardiovascular,false,LISINOPRIL\n",
            "m.csv: line 2: LISINOPRIL: epc 'A + B' names more classes than it has components",
        ),
        # an area outside the vocabulary
        (
            f"{HEADER}\nLISINOPRIL,LISINOPRIL,Angiotensin Converting Enzyme Inhibitor,cardio,"
            "false,LISINOPRIL\n",
            "m.csv: line 2: LISINOPRIL: therapeutic_area 'cardio' is not one of "
            + ", ".join(THERAPEUTIC_AREAS),
        ),
        # a header and nothing else
        (f"{HEADER}\n", "m.csv: the map lists no generic name"),
    ],
)
def test_broken_map_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(DrugClassMapError) as caught:
        load_drug_classes(path)
    assert str(caught.value) == message
