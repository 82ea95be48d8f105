"""The column headers of the two fact layouts, mapped from the generator's own column names."""

from __future__ import annotations

import pyarrow as pa

# (header in the file, generator column), in file order.
COURSE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("npi", "npi"),
    ("nppes_provider_last_org_name", "last_name"),
    ("nppes_provider_first_name", "first_name"),
    ("nppes_provider_city", "city"),
    ("nppes_provider_state", "state"),
    ("specialty_description", "specialty"),
    ("description_flag", "specialty_source"),
    ("drug_name", "brand_name"),
    ("generic_name", "generic_name"),
    ("bene_count", "bene_count"),
    ("total_claim_count", "claims"),
    ("total_30_day_fill_count", "fills"),
    ("total_day_supply", "day_supply"),
    ("total_drug_cost", "drug_cost"),
    ("bene_count_ge65", "ge65_bene_count"),
    ("bene_count_ge65_suppress_flag", "ge65_bene_flag"),
    ("total_claim_count_ge65", "ge65_claims"),
    ("ge65_suppress_flag", "ge65_flag"),
    ("total_30_day_fill_count_ge65", "ge65_fills"),
    ("total_day_supply_ge65", "ge65_day_supply"),
    ("total_drug_cost_ge65", "ge65_drug_cost"),
    ("years_of_exp", "years_of_exp"),
)
CMS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Prscrbr_NPI", "npi"),
    ("Prscrbr_Last_Org_Name", "last_name"),
    ("Prscrbr_First_Name", "first_name"),
    ("Prscrbr_City", "city"),
    ("Prscrbr_State_Abrvtn", "state"),
    ("Prscrbr_State_FIPS", "state_fips"),
    ("Prscrbr_Type", "specialty"),
    ("Prscrbr_Type_Src", "specialty_source"),
    ("Brnd_Name", "brand_name"),
    ("Gnrc_Name", "generic_name"),
    ("Tot_Clms", "claims"),
    ("Tot_30day_Fills", "fills"),
    ("Tot_Day_Suply", "day_supply"),
    ("Tot_Drug_Cst", "drug_cost"),
    ("Tot_Benes", "bene_count"),
    ("GE65_Sprsn_Flag", "ge65_flag"),
    ("GE65_Tot_Clms", "ge65_claims"),
    ("GE65_Tot_30day_Fills", "ge65_fills"),
    ("GE65_Tot_Drug_Cst", "ge65_drug_cost"),
    ("GE65_Tot_Day_Suply", "ge65_day_supply"),
    ("GE65_Bene_Sprsn_Flag", "ge65_bene_flag"),
    ("GE65_Tot_Benes", "ge65_bene_count"),
)
LAYOUT_COLUMNS = {"course": COURSE_COLUMNS, "cms": CMS_COLUMNS}

MONEY = pa.decimal128(18, 2)  # written as text with exactly two decimals
COLUMN_TYPES: dict[str, pa.DataType] = {
    "npi": pa.string(),  # text: dirty rows carry letters or the wrong number of digits
    "last_name": pa.string(),
    "first_name": pa.string(),
    "city": pa.string(),
    "state": pa.string(),
    "state_fips": pa.string(),
    "specialty": pa.string(),
    "specialty_source": pa.string(),
    "brand_name": pa.string(),
    "generic_name": pa.string(),
    "bene_count": pa.int64(),
    "claims": pa.int64(),
    "fills": pa.float64(),
    "day_supply": pa.int64(),
    "drug_cost": MONEY,
    "ge65_bene_count": pa.int64(),
    "ge65_bene_flag": pa.string(),
    "ge65_claims": pa.int64(),
    "ge65_flag": pa.string(),
    "ge65_fills": pa.float64(),
    "ge65_day_supply": pa.int64(),
    "ge65_drug_cost": MONEY,
    "years_of_exp": pa.string(),  # text such as "= 12.0", as the course file has it
}


def header(layout: str) -> list[str]:
    """The file's column names for `layout`."""
    return [name for name, _ in LAYOUT_COLUMNS[layout]]


def schema(layout: str) -> pa.Schema:
    """The Arrow schema of a chunk written in `layout`."""
    return pa.schema([(name, COLUMN_TYPES[column]) for name, column in LAYOUT_COLUMNS[layout]])
