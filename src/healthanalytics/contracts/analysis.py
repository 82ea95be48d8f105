"""Contracts of the launch analysis' tables: the market's prescribers and deciles, its products,
its specialties, its geography and the market in one row (docs/RULES.md, The launch analysis)."""

from __future__ import annotations

from healthanalytics.contracts.columns import SHARE, amount, count, decile, share
from healthanalytics.contracts.cost import PEER_OUTLIERS, PRESCRIBER_COST, STATE_COST
from healthanalytics.contracts.model import Accepted, Column, Range, TableContract
from healthanalytics.contracts.reports import DELIVERY, FLOAT, INT, TEXT
from healthanalytics.contracts.segments import SEGMENT_TABLES
from healthanalytics.contracts.targets import TARGET_TABLES

FILLS = "30-day fills"
PRODUCT_TYPES = ("brand", "generic")
GEOGRAPHY_LEVELS = ("state", "city")
PER_1000 = "30-day fills per 1,000 residents"










MARKET_PRESCRIBERS = TableContract(
    name="market_prescribers",
    description=(
        "One row per prescriber of the kept lines, writer of the market or not: its market "
        "volume and deciles."
    ),
    columns=(
        Column("presc_id", INT, "the prescriber's NPI as an integer", unit="identifier",
               not_null=True, range=Range(0, 9_999_999_999)),
        Column("specialty", TEXT, "the specialty of most of its kept lines (ties: A-Z)"),
        Column("presc_state", TEXT, "its state code, as the prescriber report takes it"),
        count("lines", "its market lines (prescriber and drug rows of the basket)", "lines"),
        count("claims", "known claims of its market lines (0 when none)", "claims"),
        amount("fills", "market volume: day supply of its market lines / 30", FILLS),
        amount("drug_cost", "drug cost of its market lines", "USD"),
        decile("decile", "10 = the largest writers holding the first tenth of the market's "
                "fills ... 1 = the many small; 0 = no market volume"),
        decile("specialty_decile", "the decile among the prescribers of its specialty"),
        DELIVERY,
    ),
    key=("presc_id",),
)  # fmt: skip

MARKET_DECILES = TableContract(
    name="market_deciles",
    description="One row per decile holding prescribers: how the market's volume is spread.",
    columns=(
        decile("decile", "the decile (see market_prescribers)"),
        Column("prescribers", INT, "prescribers in the decile", unit="prescribers",
               not_null=True, range=Range(1)),
        share("prescribers_share", "of all prescribers of the delivery"),
        amount("fills", "market fills of the decile", FILLS),
        share("fills_share", "of the market's fills; null without market fills"),
        share("cumulative_share", "of the market's fills in this decile and the higher ones"),
        count("claims", "known market claims of the decile", "claims"),
        amount("min_fills", "the smallest prescriber's fills", FILLS),
        amount("median_fills", "the middle prescriber's fills (mean of the middle two)", FILLS),
        amount("max_fills", "the largest prescriber's fills", FILLS),
        DELIVERY,
    ),
    key=("decile",),
)  # fmt: skip

MARKET_PRODUCTS = TableContract(
    name="market_products",
    description="One row per product (brand and generic name) of the market: its share.",
    columns=(
        Column("brand_name", TEXT, "brand name as cleaned (upper case)", not_null=True),
        Column("generic_name", TEXT, "generic name as cleaned (upper case)", not_null=True),
        Column("ingredient_key", TEXT, "the molecule (ingredient key)", not_null=True),
        Column("product_type", TEXT, "generic when the brand name, without trailing release "
               "and dosage-form words (ER, XL, ODT, ...), has the generic name's ingredient key "
               "(CMS writes a generic's brand name as its generic name), else brand",
               not_null=True, accepted=Accepted(PRODUCT_TYPES)),
        count("lines", "prescriber and drug rows of the product", "lines"),
        count("claims", "known claims (0 when none)", "claims"),
        count("claims_unknown", "kept lines whose claim count is suppressed", "lines"),
        amount("fills", "day supply / 30", FILLS),
        amount("drug_cost", "drug cost", "USD"),
        count("writers", "distinct prescribers writing it", "prescribers"),
        share("fills_share", "of the market's fills; null without market fills"),
        share("cost_share", "of the market's cost; null without market cost"),
        DELIVERY,
    ),
    key=("brand_name", "generic_name"),
    grain="product",
)  # fmt: skip

MARKET_SPECIALTIES = TableContract(
    name="market_specialties",
    description="One row per prescriber specialty: its writers, penetration and share of the "
    "market.",
    columns=(
        Column("specialty", TEXT, "the prescribers' specialty (see market_prescribers); null: "
               "blank"),
        Column("rank", INT, "1 = the most market fills (ties: A-Z, the blank one last)",
               unit="rank", not_null=True, range=Range(1)),
        count("writers", "prescribers of the specialty with market fills", "prescribers"),
        Column("prescribers", INT, "all prescribers of the specialty in the delivery",
               unit="prescribers", not_null=True, range=Range(1)),
        Column("penetration", FLOAT, "writers / prescribers", unit=SHARE, not_null=True,
               range=Range(0, 1)),
        amount("fills", "market fills of the specialty", FILLS),
        count("claims", "known market claims of the specialty", "claims"),
        share("fills_share", "of the market's fills; null without market fills"),
        Column("median_fills_per_writer", FLOAT, "the middle writer's fills (mean of the "
               "middle two); null without writers", unit=FILLS, range=Range(0)),
        count("high_decile_writers", "writers in deciles 8-10 of the market", "prescribers"),
        DELIVERY,
    ),
    key=("specialty",),
)  # fmt: skip

MARKET_GEOGRAPHY = TableContract(
    name="market_geography",
    description="One row per state and per dimension city: the market's demand per capita, "
    "empirical-Bayes shrunk towards the national rate.",
    columns=(
        Column("level", TEXT, "the area's kind", not_null=True,
               accepted=Accepted(GEOGRAPHY_LEVELS)),
        Column("state_id", TEXT, "two-letter state code (a state row: the prescribers' code, "
               "as market_prescribers gives it)", not_null=True),
        Column("city", TEXT, "city name from the dimension; null on state rows"),
        Column("city_id", INT, "the dimension city's id; null on state rows",
               unit="identifier", range=Range(0)),
        Column("population", INT, "residents: the city's population figure from the dimension "
               "(simplemaps: its urban population, which for the largest cities covers more "
               "than the city proper), or the sum of the state's dimension cities; null when "
               "the dimension has none", unit="residents", range=Range(0)),
        amount("fills", "market fills of the area's prescribers", FILLS),
        count("claims", "known market claims of the area's prescribers", "claims"),
        count("writers", "the area's prescribers with market fills", "prescribers"),
        count("high_decile_writers", "of which in deciles 8-10 of the market", "prescribers"),
        Column("fills_per_1000", FLOAT, "raw: fills / population * 1,000; null when the "
               "population is 0 or null", unit=PER_1000, range=Range(0)),
        Column("fills_per_1000_shrunk", FLOAT, "empirical-Bayes (Clayton & Kaldor 1987, "
               "Marshall 1991 moments) shrunk towards the level's national rate; null when the "
               "population is 0 or null", unit=PER_1000, range=Range(0)),
        Column("index", FLOAT, "shrunk rate / national rate (location quotient, 1 = US "
               "average); null without a rate or national fills", unit="ratio",
               range=Range(0)),
        Column("opportunity_rank", INT, "1 = the highest index within the level (ties: more "
               "fills, then state_id and city_id); areas without a rate last", unit="rank",
               not_null=True, range=Range(1)),
        DELIVERY,
    ),
    key=("level", "state_id", "city_id"),
    grain="area",
)  # fmt: skip

MARKET_SUMMARY = TableContract(
    name="market_summary",
    description="One row per delivery: the market, its size and concentration.",
    columns=(
        Column("market", TEXT, "the basket's name (class, area or names)", not_null=True),
        Column("market_kind", TEXT, "how the basket was chosen", not_null=True,
               accepted=Accepted(("class", "area", "names"))),
        count("basket_generics", "generic names of the drug-class map in the basket",
               "generic names"),
        count("products", "products written (rows of market_products)", "products"),
        count("brand_products", "of which brands", "products"),
        count("lines", "market lines", "lines"),
        count("claims", "known market claims", "claims"),
        amount("fills", "market fills", FILLS),
        amount("drug_cost", "market drug cost", "USD"),
        count("writers", "prescribers with market fills", "prescribers"),
        count("prescribers", "all prescribers of the delivery", "prescribers"),
        share("brand_fills_share", "fills of brands; null without market fills"),
        Column("hhi", FLOAT, "Herfindahl-Hirschman index of the products' fill shares in "
               "percent; null without market fills", unit="HHI 0..10,000",
               range=Range(0, 10_000)),
        share("top_1pct_fills_share", "fills of the largest 1 % of writers (ceil)"),
        share("top_5pct_fills_share", "fills of the largest 5 % of writers (ceil)"),
        share("top_10pct_fills_share", "fills of the largest 10 % of writers (ceil)"),
        share("claims_unknown_share", "market lines whose claim count is suppressed"),
        share("claims_mapped_share", "the delivery's known claims the drug-class map covers"),
        DELIVERY,
    ),
    key=("market",),
)  # fmt: skip

ANALYSIS_TABLES = (
    MARKET_PRESCRIBERS,
    MARKET_DECILES,
    MARKET_PRODUCTS,
    MARKET_SPECIALTIES,
    MARKET_GEOGRAPHY,
    *SEGMENT_TABLES,
    MARKET_SUMMARY,
    PRESCRIBER_COST,
    STATE_COST,
    PEER_OUTLIERS,
    *TARGET_TABLES,
)
