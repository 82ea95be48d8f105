"""The cleaned fact table: typed, one row per kept prescription line."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def to_number(text: ir.StringValue) -> ir.FloatingValue:
    """The text as a float; null when empty or not a number."""
    return text.strip().try_cast("float64")


def first_integer(text: ir.StringValue) -> ir.IntegerValue:
    """The first run of digits in the text as an integer (`= 12.0` -> 12); null if none."""
    digits = text.re_extract(r"([0-9]+)", 1)
    return ibis.ifelse(digits == "", ibis.null("int64"), digits.try_cast("int64"))


def full_name(first: ir.StringValue, last: ir.StringValue) -> ir.StringValue:
    """First and last name joined by one space; either alone when the other is missing."""
    first, last = first.strip().nullif(""), last.strip().nullif("")
    return ibis.coalesce(first + " " + last, last, first)


def clean_prescriptions(kept: ir.Table) -> ir.Table:
    """Typed prescription lines; a missing claim count takes the rounded mean of the
    same prescriber's known counts, and stays null when the prescriber has none."""
    typed = kept.select(
        presc_id=kept.npi.strip().cast("int64"),
        presc_fullname=full_name(kept.first_name, kept.last_name),
        presc_city=kept.city.strip().upper(),
        presc_state=kept.state.strip().upper(),
        country_name=ibis.literal("USA"),
        specialty=kept.specialty.strip(),
        drug_name=kept.brand_name.strip(),
        generic_name=kept.generic_name.strip(),
        years_of_exp=first_integer(kept.years_of_exp),
        claims=to_number(kept.claims).round(0),
        total_day_supply=to_number(kept.day_supply),
        total_drug_cost=to_number(kept.drug_cost),
        bene_count=to_number(kept.bene_count).round(0).cast("int64"),
    )
    mean_claims = typed.claims.mean().over(group_by=typed.presc_id)
    trx_cnt = ibis.coalesce(typed.claims, mean_claims.round(0)).cast("int64")
    return typed.mutate(trx_cnt=trx_cnt).drop("claims").relocate("trx_cnt", after="years_of_exp")
