"""The cleaned fact, summed per prescriber and place: every report is a sum over these rows.

The cleaning rules (docs/RULES.md, Cleaning) are per line; the reports only ever sum lines per
prescriber, city and state. So lines are first grouped on their raw text (cheap, and millions of
lines become one row per prescriber), the rules are applied to each group's values, and a missing
claim count contributes the prescriber's rounded mean once per line that lacks it: the same
totals as imputing line by line, without typing every line.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.transforms.quarantine import kept_rows
from healthanalytics.transforms.staging import luhn_valid
from healthanalytics.transforms.values import parse_number, printable

PLACE_KEYS = ("presc_id", "presc_fullname", "presc_city", "presc_state", "years_of_exp")


def to_claims(text: ir.StringValue) -> ir.FloatingValue:
    """A claim count, rounded to a whole number (half away from zero); null when blank. Only
    for text the number rule accepted (see `values.is_valid_count`)."""
    return parse_number(text).round(0)


def first_integer(text: ir.StringValue) -> ir.IntegerValue:
    """The first run of digits in the text as an integer (`= 12.0` -> 12); null if none. Only
    for text the experience rule accepted (see `values.is_valid_experience`): no overflow."""
    digits = text.re_extract(r"([0-9]+)", 1)
    return ibis.ifelse(digits == "", ibis.null("int64"), digits.try_cast("int64"))


def full_name(first: ir.StringValue, last: ir.StringValue) -> ir.StringValue:
    """First and last name joined by one space; either alone when the other is missing."""
    first, last = first.strip().nullif(""), last.strip().nullif("")
    return ibis.coalesce(first + " " + last, last, first)


def place_text(text: ir.StringValue) -> ir.StringValue:
    """City or state as reported: trimmed, upper case; null when blank."""
    return text.strip().upper().nullif("")


def prescriber_places(kept: ir.Table) -> ir.Table:
    """One row per prescriber and place (name, city, state, experience as cleaned, control
    characters in the names and places replaced by a space), with
    `lines`, `trx_cnt`, `total_day_supply`, `total_drug_cost`, and per row the lines whose
    claims stayed unknown (`trx_unimputed`) and whose NPI fails the Luhn check.

    `trx_cnt` sums the lines' claim counts; a line without one counts the rounded mean of the
    same prescriber's known counts, and nothing when the prescriber has none (then `trx_cnt`
    is null if no line of the row is known).
    """
    claims = to_claims(kept.claims)
    raw = kept.group_by(
        npi=kept.npi,
        first_name=kept.first_name,
        last_name=kept.last_name,
        city=kept.city,
        state=kept.state,
        years_of_exp=kept.years_of_exp,
    ).aggregate(
        lines=kept.count(),
        known=claims.count(),
        claims=claims.sum(),
        total_day_supply=parse_number(kept.day_supply).sum(),
        total_drug_cost=parse_number(kept.drug_cost).sum(),
    )
    typed = raw.select(
        presc_id=raw.npi.strip().cast("int64"),
        # control characters go here, once per prescriber rather than once per line
        presc_fullname=full_name(printable(raw.first_name), printable(raw.last_name)),
        presc_city=place_text(printable(raw.city)),
        presc_state=place_text(printable(raw.state)),
        years_of_exp=first_integer(raw.years_of_exp),
        lines=raw.lines,
        known=raw.known,
        claims=raw.claims,
        total_day_supply=raw.total_day_supply,
        total_drug_cost=raw.total_drug_cost,
    )
    places = typed.group_by(list(PLACE_KEYS)).aggregate(
        lines=typed.lines.sum(),
        known=typed.known.sum(),
        claims=typed.claims.sum(),
        total_day_supply=typed.total_day_supply.sum(),
        total_drug_cost=typed.total_drug_cost.sum(),
    )
    per_prescriber = ibis.window(group_by=places.presc_id)
    known_total = places.known.sum().over(per_prescriber)
    mean = ibis.ifelse(
        known_total > 0, (places.claims.sum().over(per_prescriber) / known_total).round(0), None
    )
    # null when the prescriber has no known count at all, and then so is trx_cnt
    imputed = (places.lines - places.known) * mean
    return places.select(
        *PLACE_KEYS[:4],
        country_name=ibis.literal("USA"),
        years_of_exp=places.years_of_exp,
        lines=places.lines.cast("int64"),
        trx_cnt=(places.claims.fill_null(0) + imputed).cast("int64"),
        total_day_supply=places.total_day_supply,
        total_drug_cost=places.total_drug_cost,
        trx_unimputed=ibis.ifelse(known_total == 0, places.lines, 0).cast("int64"),
        npi_luhn_failures=ibis.ifelse(luhn_valid(places.presc_id), 0, places.lines).cast("int64"),
    )


def clean_prescriptions(staged: ir.Table, copies: ir.Table, aside: ir.Table) -> ir.Table:
    """The kept lines (see quarantine.kept_rows) as prescriber places (see prescriber_places):
    the table every report reads."""
    return prescriber_places(kept_rows(staged, copies, aside))


DRUG_KEYS = ("presc_id", "specialty", "brand_name", "generic_name")
DAYS_PER_FILL = 30  # a 30-day fill: neither layout maps a fill count, so day supply / 30


def drug_name(text: ir.StringValue) -> ir.StringValue:
    """A brand or generic name as cleaned: control characters as spaces, trimmed, upper case
    (CMS writes the names in upper case in older files, in title case in newer ones); null
    when blank."""
    return printable(text).strip().upper().nullif("")


def drugs_per_prescriber(kept: ir.Table) -> ir.Table:
    """One row per prescriber, specialty and drug of the kept lines: the lines the launch
    analysis reads (lines of one prescriber and drug, years stacked in one file, are summed).

    Out: `presc_id` (int64), `specialty` (as written, control characters as spaces, trimmed;
    null when blank), `brand_name`, `generic_name` (see `drug_name`), `lines` (int64),
    `claims` (int64: the known claim counts summed; null when none is known: a suppressed
    count is not imputed here, unlike the reports' totals), `claims_unknown` (int64: lines
    whose claim count is blank), `day_supply` (float64 days), `fills` (float64 30-day fills:
    day_supply / 30), `drug_cost` (float64 USD), `bene_count` (int64 beneficiaries: the known
    counts summed, null when none)."""
    # one aggregation over the lines, on the cleaned keys: nearly every prescriber-drug pair has
    # one line, so grouping the raw text first saved nothing and cost a second 25M-group pass
    typed = kept.select(
        presc_id=kept.npi.strip().cast("int64"),
        specialty=printable(kept.specialty).strip().nullif(""),
        brand_name=drug_name(kept.brand_name),
        generic_name=drug_name(kept.generic_name),
        claims=to_claims(kept.claims),
        day_supply=parse_number(kept.day_supply),
        drug_cost=parse_number(kept.drug_cost),
        bene_count=to_claims(kept.bene_count),
    )
    drugs = typed.group_by(list(DRUG_KEYS)).aggregate(
        lines=typed.count().cast("int64"),
        claims=typed.claims.sum().cast("int64"),
        claims_unknown=typed.claims.isnull().sum().cast("int64"),
        day_supply=typed.day_supply.sum(),
        drug_cost=typed.drug_cost.sum(),
        bene_count=typed.bene_count.sum().cast("int64"),
    )
    return drugs.select(
        *DRUG_KEYS,
        "lines",
        "claims",
        "claims_unknown",
        "day_supply",
        fills=drugs.day_supply / DAYS_PER_FILL,
        drug_cost=drugs.drug_cost,
        bene_count=drugs.bene_count,
    )


def cleaning_counts(places: ir.Table) -> ir.Table:
    """One row: lines kept, lines left without a claim count, lines whose NPI fails Luhn."""
    return places.aggregate(
        rows_clean=places.lines.sum().cast("int64"),
        trx_unimputed=places.trx_unimputed.sum().cast("int64"),
        npi_luhn_failures=places.npi_luhn_failures.sum().cast("int64"),
    )
