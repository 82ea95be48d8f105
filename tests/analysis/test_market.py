"""Market baskets: a class, an area or names resolved against the bundled map; unknown names
refused with close matches."""

from __future__ import annotations

import pytest

from healthanalytics.analysis.drug_classes import DrugClass
from healthanalytics.analysis.market import (
    DEFAULT_MARKET_CLASS,
    MarketBasket,
    MarketError,
    market_listing,
    parse_market,
    resolve_market,
)

STATINS = MarketBasket(
    kind="class",
    name="HMG-CoA Reductase Inhibitor",
    ingredient_keys=(
        "ATORVASTATIN",
        "EZETIMIBE/SIMVASTATIN",
        "FLUVASTATIN",
        "LOVASTATIN",
        "PITAVASTATIN",
        "PRAVASTATIN",
        "ROSUVASTATIN",
        "SIMVASTATIN",
    ),
    generic_names=(
        "ATORVASTATIN CALCIUM",
        "EZETIMIBE/SIMVASTATIN",
        "FLUVASTATIN SODIUM",
        "LOVASTATIN",
        "PITAVASTATIN CALCIUM",
        "PRAVASTATIN SODIUM",
        "ROSUVASTATIN CALCIUM",
        "SIMVASTATIN",
    ),
)


def test_default_market_is_the_statins():
    # nothing chosen: the documented default; a combination containing a statin is in it
    assert DEFAULT_MARKET_CLASS == "HMG-CoA Reductase Inhibitor"
    assert resolve_market() == STATINS


def test_class_in_any_case():
    assert resolve_market(epc="hmg-coa reductase INHIBITOR") == STATINS


def test_class_of_a_combination_part():
    # Timolol's class holds the eye-drop combinations that contain it, and both metoprolols
    basket = resolve_market(epc="beta-Adrenergic Blocker")
    assert "DORZOLAMIDE/TIMOLOL" in basket.ingredient_keys
    assert {"METOPROLOL SUCCINATE", "METOPROLOL TARTRATE"} <= set(basket.generic_names)
    assert "METOPROLOL" in basket.ingredient_keys


def test_area():
    assert resolve_market(area="Dental") == MarketBasket(
        kind="area",
        name="dental",
        ingredient_keys=("CHLORHEXIDINE", "SODIUM FLUORIDE"),
        generic_names=("CHLORHEXIDINE GLUCONATE", "SODIUM FLUORIDE"),
    )


def test_generic_names_keys_and_brands():
    # a generic as CMS writes it, an ingredient key, a brand of the bundled list
    assert resolve_market(
        generics=["metoprolol succinate", "ATORVASTATIN"], brands=["Jardiance"]
    ) == MarketBasket(
        kind="names",
        name="METOPROLOL SUCCINATE, ATORVASTATIN, JARDIANCE",
        ingredient_keys=("ATORVASTATIN", "EMPAGLIFLOZIN", "METOPROLOL"),
        generic_names=(
            "ATORVASTATIN CALCIUM",
            "EMPAGLIFLOZIN",
            "METOPROLOL SUCCINATE",
            "METOPROLOL TARTRATE",
        ),
    )


@pytest.mark.parametrize(
    ("text", "settings"),
    [
        (
            "Sodium-Glucose Cotransporter 2 Inhibitor",
            {"class": "Sodium-Glucose Cotransporter 2 Inhibitor"},
        ),
        ("glp-1 receptor agonist", {"class": "GLP-1 Receptor Agonist"}),  # any case
        (" Diabetes ", {"area": "diabetes"}),  # blanks around
        ("ELIQUIS, apixaban,Xarelto", {"generics": ["APIXABAN"], "brands": ["ELIQUIS", "XARELTO"]}),
    ],
)
def test_flag_text(text, settings):
    assert parse_market(text) == settings


@pytest.mark.parametrize(
    ("call", "message"),
    [
        # a misspelt class: the closest class name (others are far behind)
        (
            lambda: resolve_market(epc="HMG-CoA Reductase Inhibtor"),
            "unknown class 'HMG-CoA Reductase Inhibtor': did you mean HMG-CoA Reductase Inhibitor?",
        ),
        # names holding it (3 at most), then names about as close, each said once
        (
            lambda: resolve_market(epc="Receptor Antagonist"),
            "unknown class 'Receptor Antagonist': 'Receptor Antagonist' is in the name or "
            "generics of Calcitonin Gene-related Peptide Receptor Antagonist, Dopamine-2 "
            "Receptor Antagonist, Histamine-1 Receptor Antagonist; did you mean Orexin Receptor "
            "Antagonist or GLP-1 Receptor Agonist?",
        ),
        # no class name close, but classes whose generics hold the word, best share first
        (
            lambda: resolve_market(epc="Statin"),
            "unknown class 'Statin': 'Statin' is in the name or generics of HMG-CoA Reductase "
            "Inhibitor, Polyene Antifungal, Dietary Cholesterol Absorption Inhibitor",
        ),
        # nothing close and nothing holds it: where to look
        (
            lambda: parse_market("NOSUCHDRUGZ"),
            "unknown class, area, generic or brand 'NOSUCHDRUGZ': no close name; see "
            "`healthanalytics markets`",
        ),
        (
            lambda: resolve_market(area="cardio"),
            "unknown therapeutic area 'cardio': 'cardio' is in the name or generics of "
            "cardiovascular",
        ),
        (
            lambda: resolve_market(brands=["XARELT"]),
            "unknown brand name 'XARELT': did you mean XARELTO?",
        ),
        (
            lambda: resolve_market(generics=["ATORVASTATN"]),
            "unknown generic name 'ATORVASTATN': did you mean ATORVASTATIN?",
        ),
        # one name of a list unknown: the flag names it, whatever it was meant to be
        (
            lambda: parse_market("ELIQUIS,atorvastatn"),
            "unknown class, area, generic or brand 'atorvastatn': did you mean ATORVASTATIN?",
        ),
        # two kinds at once
        (
            lambda: resolve_market(epc="Biguanide", area="diabetes"),
            "choose one of a class, an area or generic/brand names, not class and area",
        ),
        (lambda: parse_market(" , "), "give a class, a therapeutic area or generic/brand names"),
    ],
)
def test_unknown_market_in_one_line(call, message):
    with pytest.raises(MarketError) as caught:
        call()
    assert str(caught.value) == message


def drug_class(generic: str, epc: str, area: str) -> DrugClass:
    return DrugClass(generic, generic, epc, area, False, (generic,))


TINY_MAP = (
    drug_class("ATORVASTATIN", "HMG-CoA Reductase Inhibitor", "cardiovascular"),
    drug_class("SIMVASTATIN", "HMG-CoA Reductase Inhibitor", "cardiovascular"),
    drug_class("LISINOPRIL", "Angiotensin Converting Enzyme Inhibitor", "cardiovascular"),
    drug_class("NYSTATIN", "Polyene Antifungal", "infection"),
    drug_class("AMPHOTERICIN B", "Polyene Antifungal", "infection"),
    drug_class("FLUCONAZOLE", "Azole Antifungal", "infection"),
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # member generics hold it: by share of the group's generics (2/2, 2/3, 1/2; infection's
        # 1/3 is the fourth), before the names close to it
        (
            "statin",
            "unknown class, area, generic or brand 'statin': 'statin' is in the name or "
            "generics of HMG-CoA Reductase Inhibitor, cardiovascular, Polyene Antifungal; did "
            "you mean NYSTATIN?",
        ),
        # class names that hold it come first (any case), whatever their generics; not said
        # again as close names
        (
            "ANTIFUNGAL",
            "unknown class, area, generic or brand 'ANTIFUNGAL': 'ANTIFUNGAL' is in the name or "
            "generics of Azole Antifungal, Polyene Antifungal",
        ),
        # an area's name holds it
        (
            "infect",
            "unknown class, area, generic or brand 'infect': 'infect' is in the name or "
            "generics of infection",
        ),
    ],
)
def test_unknown_market_names_the_groups_holding_the_word(text, message):
    with pytest.raises(MarketError) as caught:
        parse_market(text, TINY_MAP)
    assert str(caught.value) == message


def test_listing_of_one_area():
    assert market_listing("dental") == (
        "Drug classes of the bundled map by therapeutic area (FDA Established Pharmacologic "
        "Class: generic names, separated by semicolons).\n"
        "Choose a market with --market CLASS, --market AREA or --market NAME,NAME,... "
        "(default: HMG-CoA Reductase Inhibitor).\n"
        "\n"
        "dental\n"
        "  Antiseptic: CHLORHEXIDINE GLUCONATE\n"
        "  Fluoride: SODIUM FLUORIDE\n"
    )


def test_listing_of_all_areas_marks_the_default():
    listing = market_listing()
    assert (
        "  HMG-CoA Reductase Inhibitor (default): ATORVASTATIN CALCIUM; EZETIMIBE/SIMVASTATIN"
        in listing
    )
    # a combination under each of its classes
    assert "SITAGLIPTIN PHOS/METFORMIN HCL" in listing.split("  Biguanide:")[1].split("\n")[0]
    assert (
        "SITAGLIPTIN PHOS/METFORMIN HCL"
        in listing.split("  Dipeptidyl Peptidase 4 Inhibitor:")[1].split("\n")[0]
    )
