"""Ingredient keys: a generic name as CMS Part D files write it, reduced to its active moieties.

`ATORVASTATIN CALCIUM` -> `ATORVASTATIN`; `AMLODIPINE BESYLATE/BENAZEPRIL HCL` ->
`AMLODIPINE/BENAZEPRIL`; `INSULIN GLARGINE,HUM.REC.ANLOG` -> `INSULIN GLARGINE`;
`EMTRICITABINE/TENOFOV ALAFENAM` -> `EMTRICITABINE/TENOFOVIR ALAFENAMIDE`.

One rule, written twice: `ingredient_key` in Python (to build and check the drug-class map) and
`ingredient_key_expr` in Ibis (for generic names of real files that the map does not list); a
test holds them equal. The rule:
1. upper case; text in parentheses dropped (`CHOLESTYRAMINE (WITH SUGAR)`); the name is cut
   into components at `/` and at the word `WITH`
   (`ACETAMINOPHEN WITH CODEINE`), each component into words at runs of blanks and commas;
2. CMS's truncations are spelled out (`TENOFOV` -> `TENOFOVIR`, `HCTZ` -> `HYDROCHLOROTHIAZIDE`);
3. salt, ester and form words (`HCL`, `CALCIUM`, `SUCCINATE`, `MEDOXOMIL`, `HUMAN`, ...) are
   dropped, unless the component has no other word: then it is the drug (`POTASSIUM CHLORIDE`,
   `CALCIUM ACETATE`, `SODIUM BICARBONATE`) and is kept whole;
4. a few components are fixed by name (`DIMETHYL FUMARATE` is the drug, not a salt);
5. components left empty are dropped (`NITROFURANTOIN MONOHYD/M-CRYST` is one drug), the rest
   sorted and joined with `/`.
A name with no words (blank, `/`) has no key: null, as a null name.

Release and dosage-form suffixes (`release_base`, `release_base_expr`): CMS writes a generic
product's brand name as its generic name, often with the form appended (`METFORMIN HCL ER` /
`METFORMIN HCL`, `DILTIAZEM 24HR ER` / `DILTIAZEM HCL`); the trailing words of RELEASE_SUFFIXES
are removed before the brand name's key is compared with the generic name's.
"""

from __future__ import annotations

import re

import ibis
import ibis.expr.types as ir

# CMS cuts generic names at 30 characters and abbreviates: the words it writes, spelled out.
SPELLED_OUT = {
    "ALA": "ALAFENAMIDE",
    "ALAFEN": "ALAFENAMIDE",
    "ALAFENAM": "ALAFENAMIDE",
    "BUDESON": "BUDESONIDE",
    "CLAV": "CLAVULANATE",
    "COB": "COBICISTAT",
    "DEXAMETH": "DEXAMETHASONE",
    "ELVITEG": "ELVITEGRAVIR",
    "EMTRI": "EMTRICITABINE",
    "EMTRICIT": "EMTRICITABINE",
    "EMTRICITAB": "EMTRICITABINE",
    "GLYCOPYR": "GLYCOPYRROLATE",
    "HCTZ": "HYDROCHLOROTHIAZIDE",
    "HYDROCHLOROTHIAZID": "HYDROCHLOROTHIAZIDE",
    "LAMIVUDI": "LAMIVUDINE",
    "PEG": "POLYETHYLENE GLYCOL",
    "PROTAMIN": "PROTAMINE",
    "REG": "REGULAR",
    "TENOF": "TENOFOVIR",
    "TENOFOV": "TENOFOVIR",
    "UMECLIDIN": "UMECLIDINIUM",
    "VILANTER": "VILANTEROL",
}

# Salts, esters and forms of one active moiety (and CMS's abbreviations of them). The mineral
# words are here too: `LOSARTAN POTASSIUM` is losartan, `POTASSIUM CHLORIDE` (only such words)
# is itself.
SALT_WORDS = frozenset(
    """
    ACET ACETATE ACETONIDE ANHYDROUS AXETIL BASE BENZOATE BESYLATE BICARBONATE BISULFATE BR BRM
    BROMIDE CALCIUM CARBONATE CHLORIDE CILEXETIL CITRATE CYPIONATE DI-HCL DIHYDROCHLORIDE
    DIMESYLATE DIP DIPROPIONATE ENANTHATE ESYLATE ETABONATE EXTENDED FERRIC FERROUS FLUORIDE FUM
    FUMARATE FUROATE GLUCONATE HBR HCL HIPPURATE HM HUM HUM.REC.ANLOG HUMAN HYCLATE HYDROBROMIDE
    HYDROCHLORIDE ISOPHANE M-CRYST MACROCRYSTAL MACROCRYSTALS MAGNESIUM MALEAT MALEATE MEDOXOMIL
    MESYLATE MOFETIL MONOHYD MONOHYDRATE NITRATE OXALATE OXIDE PALMITATE PAMOATE PF PHOS
    PHOSPHATE PIDOLATE POTASSIUM PROPANEDIOL PROPIONATE PROXETIL SODIUM SUCCINATE SULF SULFATE
    TARTRATE TOSYLATE TR TRIFENATATE TROMETHAMINE VALERATE
    """.split()  # noqa: SIM905 - a word list reads better as text
)

# Release and dosage-form words CMS appends to the brand name of a generic product, as the
# bundled lists (data/drugs.csv) and Part D files write them: removed only at the end of a name.
RELEASE_SUFFIXES = (
    "ER", "XR", "XL", "SR", "CR", "DR", "LA", "CD", "EC", "ODT", "HFA", "12HR", "24HR",
    "CAPSULE", "CREAM", "PASTE",
)  # fmt: skip
_RELEASE_TAIL = r"( +(" + "|".join(RELEASE_SUFFIXES) + r"))+ *$"

# Components the word rule gets wrong: one CMS writes in two word orders, a drug whose name is
# a salt word (dimethyl fumarate), a form written as a component of its own.
COMPONENT_FIXES = {
    "REGULAR INSULIN": "INSULIN REGULAR",
    "DIMETHYL": "DIMETHYL FUMARATE",
    "M-CRYST": "",
}

_WORD_BREAK = r"[ \t\n\r\x0B\f,]+"  # blanks and commas; RE2 and Java read it alike
_PARENTHESES = r"\([^)]*\)"


def ingredient_key(name: str | None) -> str | None:
    """The ingredient key of one generic name (see the module's rule); None when it has none."""
    if name is None:
        return None
    components = []
    for part in re.sub(_PARENTHESES, " ", name.upper()).replace(" WITH ", "/").split("/"):
        words = []
        for word in re.split(_WORD_BREAK, part):
            if word:
                words.extend(SPELLED_OUT.get(word, word).split(" "))
        kept = [word for word in words if word not in SALT_WORDS]
        component = " ".join(kept or words)
        component = COMPONENT_FIXES.get(component, component)
        if component:
            components.append(component)
    return "/".join(sorted(components)) or None


def ingredient_key_expr(name: ir.StringValue) -> ir.StringValue:
    """`ingredient_key` as an Ibis expression (DuckDB and Spark): null where it is None. It
    is long (array functions and lambdas): apply it to distinct generic names, not to lines."""

    def spelled(word: ir.StringValue) -> ir.StringValue:
        return ibis.cases(
            *((word == short, full) for short, full in SPELLED_OUT.items()), else_=word
        )

    def component(part: ir.StringValue) -> ir.StringValue:
        text = part.re_replace(_WORD_BREAK, " ").strip()
        # spelled-out words may be two words: join, then split again
        words = text.split(" ").filter(lambda w: w != "").map(spelled).join(" ").split(" ")
        words = words.filter(lambda w: w != "")
        kept = words.filter(lambda w: ~w.isin(SALT_WORDS))
        joined = ibis.ifelse(kept.length() == 0, words, kept).join(" ")
        return ibis.cases(
            *((joined == seen, same) for seen, same in COMPONENT_FIXES.items()), else_=joined
        )

    text = name.upper().re_replace(_PARENTHESES, " ").replace(" WITH ", "/")
    components = text.split("/").map(component).filter(lambda c: c != "")
    return components.sort().join("/").nullif("")


def release_base(name: str) -> str:
    """`name` without its trailing release and dosage-form words (`DILTIAZEM 24HR ER` ->
    `DILTIAZEM`; `GLUCOPHAGE XR` -> `GLUCOPHAGE`); a name of such words only is kept whole."""
    return re.sub(_RELEASE_TAIL, "", name.upper()) or name.upper()


def release_base_expr(name: ir.StringValue) -> ir.StringValue:
    """`release_base` as an Ibis expression (DuckDB and Spark)."""
    stripped = name.upper().re_replace(_RELEASE_TAIL, "")
    return ibis.ifelse(stripped == "", name.upper(), stripped)


def generic_product_expr(
    brand_name: ir.StringValue, generic_name: ir.StringValue, generic_key: ir.StringValue
) -> ir.BooleanValue:
    """True when a product (brand and generic name as cleaned; `generic_key` the generic name's
    ingredient key) is a generic: its brand name is its generic name, or has the generic's key
    once its trailing release and dosage-form words are removed (`METFORMIN HCL ER` /
    `METFORMIN HCL`); false for a brand (`GLUCOPHAGE XR`); null when a name or key is null.
    Long (see `ingredient_key_expr`): apply it to distinct products, not to lines."""
    return (brand_name == generic_name) | (
        ingredient_key_expr(release_base_expr(brand_name)) == generic_key
    )
