"""Lookalike targeting: the features on tiny tables compared whole (DuckDB), the leakage test,
the model on a synthetic table with a planted signal against its baselines, the folds grouped
by state, the degenerate inputs and determinism; the evaluation's tie rules by hand."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from healthanalytics.analysis.deciles import generic_keys, market_lines, market_prescribers
from healthanalytics.analysis.targets.evaluation import (
    expected_hits,
    group_rate,
    reliability,
    score_deciles,
)
from healthanalytics.analysis.targets.features import model_inputs, prescriber_features
from healthanalytics.analysis.targets.model import (
    IMPORTANCE_REPEATS,
    MIN_PRESCRIBERS,
    score_prescribers,
    shuffled_drops,
    state_folds,
)
from healthanalytics.analysis.targets.reasons import reasons_text
from healthanalytics.contracts.targets import MODEL_EVALUATION, TARGET_PRESCRIBERS
from tests.analysis.test_deciles import DRUG_SCHEMA
from tests.transforms.conftest import rows

STATINS = ("ATORVASTATIN",)
MAP_KEYS = ("APIXABAN", "ATORVASTATIN", "LISINOPRIL", "METOPROLOL")

# (presc_id, specialty, brand, generic, claims, day supply, cost, beneficiaries)
LINES = [
    (1, "Cardiology", "LIPITOR", "ATORVASTATIN CALCIUM", 20, 600.0, 100.0, 15),  # market
    (1, "Cardiology", "ELIQUIS", "APIXABAN", 3, 90.0, 400.0, 11),  # a brand
    (1, "Cardiology", "METOPROLOL SUCCINATE", "METOPROLOL SUCCINATE", 1, 30.0, 5.0, None),
    # only market lines: no volume outside it, no brand share
    (2, "Family Practice", "ATORVASTATIN CALCIUM", "ATORVASTATIN CALCIUM", 9, 270.0, 9.0, 12),
    (3, None, "APIXABAN", "APIXABAN", 5, None, 50.0, None),  # claims without day supply
    (3, None, "LISINOPRIL", "LISINOPRIL", None, 60.0, 2.0, 20),  # suppressed claims
    (4, "Dentist", "AMOXICILLIN", None, 2, 30.0, 1.0, None),  # a blank generic is no market
]
# (presc_id, presc_state, years_of_exp): the cleaned places
PLACES = [(1, "NY", 25), (2, "NJ", None), (3, "NY", 12), (3, "NY", 30), (4, "NY", None)]
# (presc_id, presc_state, city_id): the lines matched to cities
MATCHED = [(1, "NY", 1), (1, "NY", 1), (2, "NJ", None), (3, "NY", 2), (4, "NY", 1)]
SEGMENTS = [(1, "large metro, high demand"), (3, "small town")]  # city 2 has none


def drugs_table(lines: list[tuple]) -> ibis.Table:
    return ibis.memtable(
        {
            "presc_id": [r[0] for r in lines],
            "specialty": [r[1] for r in lines],
            "brand_name": [r[2] for r in lines],
            "generic_name": [r[3] for r in lines],
            "lines": [1] * len(lines),
            "claims": [r[4] for r in lines],
            "claims_unknown": [int(r[4] is None) for r in lines],
            "day_supply": [r[5] for r in lines],
            "fills": [None if r[5] is None else r[5] / 30 for r in lines],
            "drug_cost": [r[6] for r in lines],
            "bene_count": [r[7] for r in lines],
        },
        schema=DRUG_SCHEMA,
    )


def places_table() -> ibis.Table:
    return ibis.memtable(
        {
            "presc_id": [p[0] for p in PLACES],
            "presc_state": [p[1] for p in PLACES],
            "years_of_exp": [p[2] for p in PLACES],
        },
        schema={"presc_id": "int64", "presc_state": "string", "years_of_exp": "int64"},
    )


def matched_table() -> ibis.Table:
    return ibis.memtable(
        {
            "presc_id": [m[0] for m in MATCHED],
            "presc_state": [m[1] for m in MATCHED],
            "city_id": [m[2] for m in MATCHED],
        },
        schema={"presc_id": "int64", "presc_state": "string", "city_id": "int64"},
    )


def segments_table() -> ibis.Table:
    return ibis.memtable(
        {"city_id": [s[0] for s in SEGMENTS], "segment_name": [s[1] for s in SEGMENTS]},
        schema={"city_id": "int64", "segment_name": "string"},
    )


def features_of(lines: list[tuple], segments: ibis.Table | None = None) -> ibis.Table:
    drugs, places = drugs_table(lines), places_table()
    keys = generic_keys(drugs, MAP_KEYS, STATINS)
    prescribers = market_prescribers(drugs, places, market_lines(drugs, keys))
    return prescriber_features(drugs, keys, places, prescribers, matched_table(), segments)


def test_features_hold_the_prescribers_lines_outside_the_market(con):
    got = rows(features_of(LINES, segments_table()), ["presc_id"])
    assert got == [
        # ELIQUIS (90 days, a brand) and METOPROLOL (30 days): 4 fills, 3/4 of them brand
        dict(presc_id=1, specialty="Cardiology", presc_state="NY",
             city_segment="large metro, high demand", other_fills=4.0, other_claims=4,
             other_generics=2, other_brand_share=0.75, other_beneficiaries=11,
             years_of_exp=25),
        # only market lines: zeros, and no brand share without fills; no city matched
        dict(presc_id=2, specialty="Family Practice", presc_state="NJ", city_segment=None,
             other_fills=0.0, other_claims=0, other_generics=0, other_brand_share=None,
             other_beneficiaries=0, years_of_exp=None),
        # a line without day supply adds no fills; its city (2) has no segment; the largest
        # experience of its places
        dict(presc_id=3, specialty=None, presc_state="NY", city_segment=None,
             other_fills=2.0, other_claims=5, other_generics=2, other_brand_share=0.0,
             other_beneficiaries=20, years_of_exp=30),
        # a line without a generic name counts no generic, and is not a brand
        dict(presc_id=4, specialty="Dentist", presc_state="NY",
             city_segment="large metro, high demand", other_fills=1.0, other_claims=2,
             other_generics=0, other_brand_share=0.0, other_beneficiaries=0,
             years_of_exp=None),
    ]  # fmt: skip
    # no segments given: the column is null throughout, the rest the same
    without = rows(features_of(LINES), ["presc_id"])
    assert without == [{**row, "city_segment": None} for row in got]


def test_brand_share_counts_release_forms_of_generics_as_generics(con):
    lines = [
        (1, "Cardiology", "LIPITOR", "ATORVASTATIN CALCIUM", 20, 600.0, 100.0, 15),  # market
        (1, "Cardiology", "METFORMIN HCL ER", "METFORMIN HCL", 1, 30.0, 1.0, None),  # generic
        (1, "Cardiology", "GLUCOPHAGE XR", "METFORMIN HCL", 1, 60.0, 1.0, None),  # a brand
        (1, "Cardiology", "METOPROLOL", "METOPROLOL SUCCINATE", 1, 30.0, 1.0, None),  # salt
    ]
    assert rows(features_of(lines), ["presc_id"]) == [
        # 120 days outside the market, 60 of them GLUCOPHAGE XR's
        dict(presc_id=1, specialty="Cardiology", presc_state="NY", city_segment=None,
             other_fills=4.0, other_claims=3, other_generics=2, other_brand_share=0.5,
             other_beneficiaries=0, years_of_exp=25),
    ]  # fmt: skip


def test_changing_the_market_lines_volume_changes_no_feature(con):
    # the market lines' claims, day supply, cost and beneficiaries multiplied and shuffled
    changed = [
        (p, s, b, g, 7 * (c or 0) + 1, 3.0 * (d or 0) + 45, 11.0 * (cost or 0), 99)
        if g == "ATORVASTATIN CALCIUM" else (p, s, b, g, c, d, cost, bene)
        for p, s, b, g, c, d, cost, bene in LINES
    ]  # fmt: skip
    before = rows(features_of(LINES, segments_table()), ["presc_id"])
    after = rows(features_of(changed, segments_table()), ["presc_id"])
    assert after == before
    # the change is real: the market's volume (and so the label) moved
    drugs, places = drugs_table(changed), places_table()
    keys = generic_keys(drugs, MAP_KEYS, STATINS)
    old_drugs = drugs_table(LINES)
    old_keys = generic_keys(old_drugs, MAP_KEYS, STATINS)

    def fills(d: ibis.Table, k: ibis.Table) -> list[float]:
        p = market_prescribers(d, places, market_lines(d, k))
        return [r["fills"] for r in rows(p.select("presc_id", "fills"), ["presc_id"])]

    assert fills(drugs, keys) != fills(old_drugs, old_keys)


def test_model_inputs_add_the_label_and_the_all_drug_volume_decile(con):
    drugs, places = drugs_table(LINES), places_table()
    keys = generic_keys(drugs, MAP_KEYS, STATINS)
    prescribers = market_prescribers(drugs, places, market_lines(drugs, keys))
    features = prescriber_features(drugs, keys, places, prescribers, matched_table())
    got = rows(
        model_inputs(features, drugs, prescribers).select(
            "presc_id", "decile", "specialty_decile", "label", "overall_decile"
        ),
        ["presc_id"],
    )
    # all drugs' days: 1 -> 720, 2 -> 270, 3 -> 60, 4 -> 30 (of 1,080); market: 1 and 2
    assert got == [
        dict(presc_id=1, decile=10, specialty_decile=10, label=1, overall_decile=10),
        # the market's second writer starts at 600/870: decile 10 - 6
        dict(presc_id=2, decile=4, specialty_decile=10, label=0, overall_decile=4),
        dict(presc_id=3, decile=0, specialty_decile=0, label=0, overall_decile=1),
        dict(presc_id=4, decile=0, specialty_decile=0, label=0, overall_decile=1),
    ]


SPECIALTIES = ["Cardiology", "Family Practice", "Internal Medicine", "Nurse Practitioner",
               "Dermatology", "Psychiatry"]  # fmt: skip


def planted(n: int = 3000, seed: int = 7, states: int = 12) -> pa.Table:
    """model_inputs rows with a planted signal: the high-decile writers are cardiologists of
    broad practice (many generics outside the market), plus 1 % noise. The all-drug volume
    follows fills outside the market, which the signal does not."""
    rng = np.random.default_rng(seed)
    specialty = rng.choice(SPECIALTIES, n)
    generics = rng.poisson(30, n)
    fills = rng.lognormal(6, 1, n)
    high = ((specialty == "Cardiology") & (generics > 33)) | (rng.random(n) < 0.01)
    decile = np.where(high, rng.integers(8, 11, n), rng.integers(0, 8, n))
    overall = np.clip(np.floor(np.argsort(np.argsort(fills)) * 10 / n) + 1, 1, 10)
    return pa.table(
        {
            "presc_id": pa.array(1_000_000_000 + np.arange(n), pa.int64()),
            "specialty": specialty.tolist(),
            "presc_state": [f"S{i % states:02d}" for i in range(n)],
            "city_segment": pa.array([None] * n, pa.string()),
            "other_fills": fills,
            "other_claims": pa.array(np.round(fills * 0.8).astype(np.int64)),
            "other_generics": pa.array(generics.astype(np.int64)),
            "other_brand_share": rng.uniform(0, 0.5, n),
            "other_beneficiaries": pa.array(np.round(fills * 0.3).astype(np.int64)),
            "years_of_exp": pa.array([None] * n, pa.int64()),
            "decile": pa.array(decile.astype(np.int64)),
            "specialty_decile": pa.array(decile.astype(np.int64)),
            "label": pa.array(high.astype(np.int64)),
            "overall_decile": pa.array(overall.astype(np.int64)),
        }
    )


def figures(evaluation: pa.Table, metric: str) -> dict[str, float]:
    return {r["model"]: r["value"] for r in evaluation.to_pylist() if r["metric"] == metric}


@pytest.fixture(scope="module")
def scored():
    return score_prescribers(planted())


def test_the_model_finds_the_planted_signal_and_beats_both_baselines(scored):
    assert scored.skipped is None
    auc = figures(scored.evaluation, "roc_auc")
    assert auc["lookalike"] > auc["specialty_rate"] + 0.05
    assert auc["lookalike"] > auc["volume_decile"] + 0.05
    assert auc["lookalike"] > 0.85
    pr_auc = figures(scored.evaluation, "pr_auc")
    assert pr_auc["lookalike"] > max(pr_auc["specialty_rate"], pr_auc["volume_decile"])
    statuses = {r["model"]: r["status"] for r in scored.evaluation.to_pylist()}
    assert statuses == {"lookalike": "shown", "specialty_rate": "baseline",
                        "volume_decile": "baseline"}  # fmt: skip
    # the breadth and the specialty carry the signal: the two most important inputs
    ranked = sorted(scored.importance.to_pylist(), key=lambda r: r["rank"])
    assert {r["feature"] for r in ranked[:2]} == {"specialty", "other_generics"}
    # the experience is null throughout, so not an input
    assert "years_of_exp" not in {r["feature"] for r in ranked}


def test_every_prescriber_is_scored_once_and_placed_by_the_segment_rules(scored):
    inputs = planted()
    targets = scored.prescribers.to_pylist()
    assert scored.prescribers.schema == pa.schema(
        [f for f in TARGET_PRESCRIBERS.schema if f.name != "delivery_date"]
    )
    assert sorted(r["presc_id"] for r in targets) == sorted(inputs["presc_id"].to_pylist())
    prevalence = figures(scored.evaluation, "prevalence")["lookalike"]
    segments = {("high", "low"): "grow", ("high", "high"): "defend",
                ("low", "high"): "maintain", ("low", "low"): "monitor"}  # fmt: skip
    for r in targets:
        assert 0 <= r["probability"] <= 1
        assert r["potential"] == ("high" if r["probability"] >= 2 * prevalence else "low")
        assert r["adoption"] == ("high" if r["decile"] >= 8 else "low")
        assert r["segment"] == segments[r["potential"], r["adoption"]]
        tier = 1 if r["probability"] >= 4 * prevalence else 2 if "high" in (
            r["potential"], r["adoption"]) else 3  # fmt: skip
        assert r["priority_tier"] == tier
    # the lookalikes: cardiologists of broad practice not yet in deciles 8-10, found
    grow = [r for r in targets if r["segment"] == "grow"]
    assert grow and all(r["reasons"] for r in grow)
    assert sum(r["specialty"] == "Cardiology" for r in grow) > 0.8 * len(grow)


def test_folds_hold_each_state_out_whole():
    inputs = planted()
    label = np.array(inputs["label"].to_pylist())
    states = np.array(inputs["presc_state"].to_pylist(), dtype=object)
    folds = state_folds(label, states)
    assert len(folds) == 5
    for train, test in folds:
        # no state on both sides of a fold
        assert not set(states[train]) & set(states[test])
    # every prescriber tested exactly once
    tested = np.sort(np.concatenate([test for _, test in folds]))
    assert tested.tolist() == list(range(len(label)))


def test_the_same_input_in_any_order_gives_the_same_tables(scored):
    inputs = planted()
    shuffled = inputs.take(np.random.default_rng(3).permutation(inputs.num_rows))
    again = score_prescribers(shuffled)
    assert again.prescribers.equals(scored.prescribers)
    assert again.evaluation.equals(scored.evaluation)
    assert again.importance.equals(scored.importance)


def skip_rows(reason: str, n: int, positives: int) -> list[dict]:
    base = {"model": "lookalike", "k_share": None, "score_decile": None, "rows": n,
            "status": "skipped", "note": reason}  # fmt: skip
    return [
        {**base, "metric": "prescribers", "value": float(n)},
        {**base, "metric": "positives", "value": float(positives)},
        {**base, "metric": "prevalence", "value": positives / n if n else None},
    ]


def _with(table: pa.Table, **columns) -> pa.Table:
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, values)
    return table


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        # no prescriber in deciles 8-10 (an empty market)
        ("no_positives", "no prescriber in deciles 8-10: the market has no volume to learn"),
        # one state: no fold can hold a state out
        ("one_state", "one state only (NY): cross-validation grouped by state needs two"),
        # too few prescribers to validate anything
        ("tiny", f"40 prescribers: at least {MIN_PRESCRIBERS} are needed to validate a model"),
        # too few positives for five folds
        ("few_positives", "5 of 3000 prescribers in deciles 8-10: at least 20 in and out of "
                          "them are needed"),
    ],
)  # fmt: skip
def test_degenerate_inputs_give_a_skip_row_not_an_exception(case, reason):
    inputs = planted()
    n = inputs.num_rows
    if case == "no_positives":
        inputs = _with(inputs, label=pa.array([0] * n, pa.int64()))
    elif case == "one_state":
        inputs = _with(inputs, presc_state=pa.array(["NY"] * n))
    elif case == "tiny":
        inputs = inputs.slice(0, 40)
    else:
        inputs = _with(inputs, label=pa.array([1] * 5 + [0] * (n - 5), pa.int64()))
    got = score_prescribers(inputs)
    assert got.skipped == reason
    labels = inputs["label"].to_pylist()
    assert got.evaluation.to_pylist() == skip_rows(reason, len(labels), sum(labels))
    assert got.evaluation.schema == pa.schema(
        [f for f in MODEL_EVALUATION.schema if f.name != "delivery_date"]
    )
    assert got.prescribers.num_rows == 0 and got.importance.num_rows == 0
    assert got.summary() == f"lookalike model skipped: {reason}"


def test_precision_at_k_counts_a_tied_group_by_its_share():
    label = np.array([1, 0, 1, 0])
    score = np.array([0.9, 0.5, 0.5, 0.1])
    # top 2: the 0.9 (a hit) and half of the tied 0.5 pair (one hit in two)
    assert expected_hits(label, score, 2) == 1.5
    assert expected_hits(label, score, 1) == 1.0
    # every row taken: every hit
    assert expected_hits(label, score, 4) == 2.0


def test_score_deciles_start_where_the_tied_group_starts():
    # higher scores: 0, 1, 1, 3 of 4 -> 10 - floor(10 x higher / 4)
    assert score_deciles(np.array([0.9, 0.5, 0.5, 0.1])).tolist() == [10, 8, 8, 3]
    # all tied: one decile, the top one
    assert score_deciles(np.array([0.2, 0.2, 0.2])).tolist() == [10, 10, 10]


def test_reliability_points_per_score_decile_keep_a_tied_group_whole():
    label = np.array([1, 0, 1, 0, 1])
    score = np.array([0.9, 0.5, 0.5, 0.1, 0.1])
    # higher scores 0, 1, 1, 3, 3 of 5 -> deciles 10, 8, 8, 4, 4: each tied pair one point
    got = reliability(label, score, score_deciles(score))
    point = {"k_share": None}
    expected = [
        (10, "mean_score", 0.9, 1), (10, "positive_rate", 1.0, 1),
        (8, "mean_score", 0.5, 2), (8, "positive_rate", 0.5, 2),
        (4, "mean_score", 0.1, 2), (4, "positive_rate", 0.5, 2),
    ]  # fmt: skip
    assert got == [
        {**point, "metric": metric, "score_decile": decile, "value": pytest.approx(value),
         "rows": rows}
        for decile, metric, value, rows in expected
    ]  # fmt: skip


def reliability_frame(label: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """The reliability points computed apart from the evaluation: pandas ranks for the score
    deciles (ties at their group's first place), a groupby for the means."""
    n = len(score)
    higher = pd.Series(score).rank(method="min", ascending=False) - 1
    deciles = (10 - np.floor(10 * higher / n)).astype(int)
    frame = pd.DataFrame({"label": label, "score": score, "score_decile": deciles})
    points = frame.groupby("score_decile").agg(mean_score=("score", "mean"),
                                               positive_rate=("label", "mean"),
                                               rows=("label", "size"))  # fmt: skip
    return points.sort_index(ascending=False)


def persisted_points(evaluation: pa.Table, model: str) -> pd.DataFrame:
    rows = [r for r in evaluation.to_pylist()
            if r["model"] == model and r["metric"] in ("mean_score", "positive_rate")]  # fmt: skip
    frame = pd.DataFrame(rows).pivot(index="score_decile", columns="metric", values="value")
    frame["rows"] = pd.DataFrame(rows).groupby("score_decile")["rows"].first()
    frame.columns.name = None
    return frame.sort_index(ascending=False)[["mean_score", "positive_rate", "rows"]]


def test_reliability_points_of_the_model_and_baselines_are_out_of_fold(scored):
    inputs = planted()
    label = np.array(inputs["label"].to_pylist())
    states = np.array(inputs["presc_state"].to_pylist(), dtype=object)
    frame = inputs.select(["specialty", "overall_decile"]).to_pandas()
    # each baseline's score recomputed by pandas on the model's folds: the training folds'
    # rate of the group, the training folds' overall rate for a group they lack
    baselines = {"specialty_rate": np.empty(len(label)), "volume_decile": np.empty(len(label))}
    columns = {"specialty_rate": "specialty", "volume_decile": "overall_decile"}
    for train, test in state_folds(label, states):
        for model, column in columns.items():
            rates = pd.Series(label[train]).groupby(frame[column].iloc[train].to_numpy()).mean()
            held = frame[column].iloc[test].map(rates).fillna(label[train].mean())
            baselines[model][test] = held.to_numpy()
    probability = np.array(scored.prescribers["probability"].to_pylist())
    brier = figures(scored.evaluation, "brier")
    for model, score in {"lookalike": probability, **baselines}.items():
        pd.testing.assert_frame_equal(
            persisted_points(scored.evaluation, model),
            reliability_frame(label, score),
            check_dtype=False,
            check_names=False,
        )
        # the Brier score of the same scores: their mean squared distance from the label
        assert brier[model] == pytest.approx(np.mean((score - label) ** 2))


def test_group_rate_is_the_training_rate_of_the_group():
    groups = np.array(["a", "a", "b"], dtype=object)
    # a group the training rows lack gets their overall rate (2 of 3)
    got = group_rate(groups, np.array([1, 0, 1]), np.array(["a", "b", "c"], dtype=object))
    assert got.tolist() == [0.5, 1.0, 2 / 3]


def test_reasons_name_the_inputs_raising_the_score_most():
    import pandas as pd

    frame = pd.DataFrame(
        {
            "specialty": ["Cardiology", "Dentist", None],
            "other_generics": [120, 3, 40],
            "years_of_exp": [25.0, 30.0, float("nan")],
        }
    )
    contributions = np.array(
        [
            [0.5, 1.0, -0.2],  # the breadth first, then the specialty; experience lowers it
            [-1.0, -0.1, -0.3],  # nothing raises it
            [0.1, 0.0, 0.3],  # no contribution is no reason; a null value has its words
        ]
    )
    got = reasons_text(frame, ["specialty", "other_generics", "years_of_exp"], contributions)
    assert got == [
        "120 generics outside the market; specialty Cardiology",
        None,
        "experience unknown; no specialty given",
    ]


def test_permutation_importance_shuffles_each_inputs_contribution():
    label = np.array([0, 0, 0, 1, 1, 1] * 5)
    contributions = np.column_stack(
        [
            label * 2.0 + np.linspace(0, 0.1, 30),  # the signal: AUC 1 alone
            np.full(30, 0.7),  # the same for every row: shuffling it changes nothing
        ]
    )
    drops = shuffled_drops(contributions, label, np.random.default_rng(1))
    assert drops.shape == (2, IMPORTANCE_REPEATS)
    assert (drops[0] > 0.2).all()
    assert (drops[1] == 0).all()
