"""The lookalike model's inputs: pure Ibis transforms building one row per prescriber of
features that hold no market volume at all, and the label and baselines beside them.

A feature is computed from the kept lines *outside* the market (the lines whose generic name
is not `in_market` in `deciles.generic_keys`), the prescriber's places (experience), its
specialty and state (`market_prescribers`: taken from its lines' count, never their volume)
and its city's segment. Changing the market lines' claims, day supply or cost changes no
feature (tests/analysis/test_targets.py proves it): the model cannot learn the volume it
predicts, the leak the brief's classifier had (issue 15: claims predicted from day supply
and cost, ROC AUC 0.89 with them, 0.61 without).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from healthanalytics.analysis.deciles import volume_decile
from healthanalytics.analysis.geography import prescriber_cities
from healthanalytics.analysis.ingredients import generic_product_expr
from healthanalytics.analysis.specialties import HIGH_DECILE

DAYS_PER_FILL = 30


def prescriber_features(
    drugs: ir.Table,
    keys: ir.Table,
    places: ir.Table,
    prescribers: ir.Table,
    matched: ir.Table,
    city_segments: ir.Table | None = None,
) -> ir.Table:
    """One row per prescriber of `market_prescribers`: the model's features.

    In: `drugs` (kept lines per prescriber and drug: `presc_id`, `brand_name`,
    `generic_name`, `claims`, `day_supply`, `bene_count`), `keys` (`generic_keys`:
    `generic_name`, `in_market`), `places` (the cleaned prescriber places: `presc_id`,
    `years_of_exp`), `prescribers` (`market_prescribers`: `presc_id`, `specialty`,
    `presc_state`), `matched` (`match_cities`: the lines' `city_id`), `city_segments`
    (`city_id`, `segment_name`) or None.

    Out: `presc_id`, `specialty`, `presc_state`, `city_segment` (the segment of its city, see
    `geography.prescriber_cities`; null without a matched city or segments), `other_fills`
    (float64 30-day fills outside the market, 0 when none), `other_claims` (int64 known
    claims outside the market), `other_generics` (int64 distinct generic names outside the
    market: breadth), `other_brand_share` (share 0..1 of its fills outside the market that
    are brands, brand or generic as market_products says (`generic_product_expr`); null
    without such fills), `other_beneficiaries` (int64 known beneficiary counts of its lines
    outside the market, summed: a beneficiary of two drugs counts twice), `years_of_exp`
    (int64, the largest reported; null when none or the layout has no experience)."""
    market = keys.filter(keys.in_market).select("generic_name")
    other = drugs.anti_join(market, "generic_name")
    # brand or generic once per product, as market_products says; a line without a generic
    # name is not a brand
    products = other.select("brand_name", "generic_name").distinct()
    keyed = products.left_join(keys, products.generic_name == keys.generic_name).select(
        products.brand_name,
        products.generic_name,
        _brand=~generic_product_expr(
            products.brand_name, products.generic_name, keys.ingredient_key
        ),
    )
    other = other.left_join(
        keyed,
        [other.brand_name == keyed.brand_name, other.generic_name == keyed.generic_name],
    ).select(other, _brand=keyed._brand)
    is_brand = other._brand.fill_null(False)
    days = other.day_supply.fill_null(0.0)
    volume = other.group_by("presc_id").aggregate(
        _days=days.sum(),
        _brand_days=ibis.ifelse(is_brand, days, 0.0).sum(),
        _claims=other.claims.sum(),
        _generics=other.generic_name.nunique(),
        _benes=other.bene_count.sum(),
    )
    experience = places.group_by("presc_id").aggregate(_years=places.years_of_exp.max())
    spine = prescribers.select("presc_id", "specialty", "presc_state")
    joined = spine.left_join(volume, "presc_id").left_join(experience, "presc_id")
    joined = joined.select(
        "presc_id",
        "specialty",
        "presc_state",
        other_fills=joined._days.fill_null(0.0) / DAYS_PER_FILL,
        other_claims=joined._claims.fill_null(0).cast("int64"),
        other_generics=joined._generics.fill_null(0).cast("int64"),
        other_brand_share=ibis.ifelse(
            joined._days > 0,
            ibis.least(joined._brand_days / joined._days, 1.0),
            ibis.null("float64"),
        ),
        other_beneficiaries=joined._benes.fill_null(0).cast("int64"),
        years_of_exp=joined._years.cast("int64"),
    )
    if city_segments is None:
        segment = ibis.null("string")
    else:
        located = prescriber_cities(matched, spine)
        named = located.inner_join(
            city_segments.select("city_id", _segment=city_segments.segment_name), "city_id"
        ).select("presc_id", "_segment")
        joined = joined.left_join(named, "presc_id")
        segment = joined._segment.cast("string")
    return joined.select(
        "presc_id",
        "specialty",
        "presc_state",
        city_segment=segment,
        other_fills=joined.other_fills.cast("float64"),
        other_claims=joined.other_claims,
        other_generics=joined.other_generics,
        other_brand_share=joined.other_brand_share.cast("float64"),
        other_beneficiaries=joined.other_beneficiaries,
        years_of_exp=joined.years_of_exp,
    )


def model_inputs(features: ir.Table, drugs: ir.Table, prescribers: ir.Table) -> ir.Table:
    """The features with what the model is judged by, one row per prescriber.

    In: `prescriber_features`, `drugs` (every kept line's `day_supply`), `market_prescribers`
    (`decile`, `specialty_decile`). Out: the features' columns, `decile`, `specialty_decile`,
    `label` (int64 1 when the decile is 8-10, else 0) and `overall_decile` (int64 0..10: the
    decile of the prescriber's 30-day fills of all drugs, the market's included, by the
    market deciles' rule: the volume baseline, never a feature)."""
    total = drugs.group_by("presc_id").aggregate(_days=drugs.day_supply.sum())
    overall = total.select("presc_id", overall_decile=volume_decile(total._days.fill_null(0.0), []))
    judged = prescribers.select("presc_id", "decile", "specialty_decile")
    joined = features.left_join(judged, "presc_id").left_join(overall, "presc_id")
    return joined.select(
        *features.columns,
        decile=joined.decile.cast("int64"),
        specialty_decile=joined.specialty_decile.cast("int64"),
        label=(joined.decile >= HIGH_DECILE).cast("int64"),
        overall_decile=joined.overall_decile.fill_null(0).cast("int64"),
    )
