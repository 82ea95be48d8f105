"""Contracts of the launch analysis' tables: the market's prescribers and deciles, its products,
its specialties, its geography and the market in one row (docs/RULES.md, The launch analysis)."""

from __future__ import annotations

from healthanalytics.contracts.cost import PEER_OUTLIERS, PRESCRIBER_COST, STATE_COST
from healthanalytics.contracts.model import Accepted, Column, Range, TableContract
from healthanalytics.contracts.reports import DELIVERY, FLOAT, INT, TEXT
from healthanalytics.contracts.segments import SEGMENT_TABLES
from healthanalytics.contracts.targets import TARGET_TABLES

FILLS = "30-day fills"
SHARE = "share 0..1"
PRODUCT_TYPES = ("brand", "generic")
GEOGRAPHY_LEVELS = ("state", "city")
PER_1000 = "30-day fills per 1,000 residents"


def _share(name: str, description: str) -> Column:
    return Column(name, FLOAT, description, unit=SHARE, range=Range(0, 1))


def _decile(name: str, description: str) -> Column:
    return Column(name, INT, description, unit="decile", not_null=True, range=Range(0, 10))


def _amount(name: str, description: str, unit: str) -> Column:
    return Column(name, FLOAT, description, unit=unit, not_null=True, range=Range(0))


def _count(name: str, description: str, unit: str) -> Column:
    return Column(name, INT, description, unit=unit, not_null=True, range=Range(0))


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
        _count("lines", "its market lines (prescriber and drug rows of the basket)", "lines"),
        _count("claims", "known claims of its market lines (0 when none)", "claims"),
        _amount("fills", "market volume: day supply of its market lines / 30", FILLS),
        _amount("drug_cost", "drug cost of its market lines", "USD"),
        _decile("decile", "10 = the largest writers holding the first tenth of the market's "
                "fills ... 1 = the many small; 0 = no market volume"),
        _decile("specialty_decile", "the decile among the prescribers of its specialty"),
        DELIVERY,
    ),
    key=("presc_id",),
)  # fmt: skip

MARKET_DECILES = TableContract(
    name="market_deciles",
    description="One row per decile holding prescribers: how the market's volume is spread.",
    columns=(
        _decile("decile", "the decile (see market_prescribers)"),
        Column("prescribers", INT, "prescribers in the decile", unit="prescribers",
               not_null=True, range=Range(1)),
        _share("prescribers_share", "of all prescribers of the delivery"),
        _amount("fills", "market fills of the decile", FILLS),
        _share("fills_share", "of the market's fills; null without market fills"),
        _share("cumulative_share", "of the market's fills in this decile and the higher ones"),
        _count("claims", "known market claims of the decile", "claims"),
        _amount("min_fills", "the smallest prescriber's fills", FILLS),
        _amount("median_fills", "the middle prescriber's fills (mean of the middle two)", FILLS),
        _amount("max_fills", "the largest prescriber's fills", FILLS),
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
        Column("product_type", TEXT, "brand when the brand name is not the generic name (CMS "
               "writes a generic's brand name as its generic name), else generic",
               not_null=True, accepted=Accepted(PRODUCT_TYPES)),
        _count("lines", "prescriber and drug rows of the product", "lines"),
        _count("claims", "known claims (0 when none)", "claims"),
        _count("claims_unknown", "kept lines whose claim count is suppressed", "lines"),
        _amount("fills", "day supply / 30", FILLS),
        _amount("drug_cost", "drug cost", "USD"),
        _count("writers", "distinct prescribers writing it", "prescribers"),
        _share("fills_share", "of the market's fills; null without market fills"),
        _share("cost_share", "of the market's cost; null without market cost"),
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
        _count("writers", "prescribers of the specialty with market fills", "prescribers"),
        Column("prescribers", INT, "all prescribers of the specialty in the delivery",
               unit="prescribers", not_null=True, range=Range(1)),
        Column("penetration", FLOAT, "writers / prescribers", unit=SHARE, not_null=True,
               range=Range(0, 1)),
        _amount("fills", "market fills of the specialty", FILLS),
        _count("claims", "known market claims of the specialty", "claims"),
        _share("fills_share", "of the market's fills; null without market fills"),
        Column("median_fills_per_writer", FLOAT, "the middle writer's fills (mean of the "
               "middle two); null without writers", unit=FILLS, range=Range(0)),
        _count("high_decile_writers", "writers in deciles 8-10 of the market", "prescribers"),
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
        Column("population", INT, "residents: the city's, or the sum of the state's dimension "
               "cities; null when the dimension has none", unit="residents", range=Range(0)),
        _amount("fills", "market fills of the area's prescribers", FILLS),
        _count("claims", "known market claims of the area's prescribers", "claims"),
        _count("writers", "the area's prescribers with market fills", "prescribers"),
        _count("high_decile_writers", "of which in deciles 8-10 of the market", "prescribers"),
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
        _count("basket_generics", "generic names of the drug-class map in the basket",
               "generic names"),
        _count("products", "products written (rows of market_products)", "products"),
        _count("brand_products", "of which brands", "products"),
        _count("lines", "market lines", "lines"),
        _count("claims", "known market claims", "claims"),
        _amount("fills", "market fills", FILLS),
        _amount("drug_cost", "market drug cost", "USD"),
        _count("writers", "prescribers with market fills", "prescribers"),
        _count("prescribers", "all prescribers of the delivery", "prescribers"),
        _share("brand_fills_share", "fills of brands; null without market fills"),
        Column("hhi", FLOAT, "Herfindahl-Hirschman index of the products' fill shares in "
               "percent; null without market fills", unit="HHI 0..10,000",
               range=Range(0, 10_000)),
        _share("top_1pct_fills_share", "fills of the largest 1 % of writers (ceil)"),
        _share("top_5pct_fills_share", "fills of the largest 5 % of writers (ceil)"),
        _share("top_10pct_fills_share", "fills of the largest 10 % of writers (ceil)"),
        _share("claims_unknown_share", "market lines whose claim count is suppressed"),
        _share("claims_mapped_share", "the delivery's known claims the drug-class map covers"),
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
