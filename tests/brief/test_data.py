"""The brief's readings of the segments, targets and cost tables, from tiny tables: the
priority order, the model's figures beside its baselines, the calibration points and the
outlier counts."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from healthanalytics.brief.data import (
    BriefData,
    calibration_points,
    lift_rows,
    model_metrics,
    model_status,
    outlier_counts,
    priority_targets,
)


def evaluation_rows(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["model", "metric", "k_share", "score_decile", "value",
                                       "rows", "status", "note"])  # fmt: skip


def test_priority_targets_by_tier_then_probability_with_names():
    targets = pd.DataFrame(
        {
            "presc_id": [1, 2, 3, 4, 5],
            "specialty": ["A", "B", "A", "C", "A"],
            "presc_state": ["NY", "TX", "NY", "CA", None],
            "decile": [10, 3, 0, 9, 8],
            "probability": [0.5, 0.9, 0.8, 0.5, 0.2],
            "segment": ["defend", "grow", "grow", "defend", "maintain"],
            # tier before probability: prescriber 2 (0.9) in tier 2 comes after tier 1
            "priority_tier": [1, 2, 1, 1, 3],
            "reasons": ["r1", "r2", None, "r4", "r5"],
        }
    )
    # prescriber_report keeps some prescribers only, one of them on two rows
    names = pd.DataFrame({"presc_id": [1, 1, 4], "presc_fullname": ["ANN LEE", "ANN LEE", "BO"]})
    data = BriefData(dt.date(2026, 1, 15), {},
                     {"target_prescribers": targets, "prescriber_report": names})  # fmt: skip
    got = priority_targets(data, limit=4)
    expected = pd.DataFrame(
        {
            "rank": [1, 2, 3, 4],
            # probability ties (1 and 4) ordered by NPI
            "presc_id": [3, 1, 4, 2],
            "presc_fullname": [None, "ANN LEE", "BO", None],
            "specialty": ["A", "A", "C", "B"],
            "presc_state": ["NY", "NY", "CA", "TX"],
            "decile": [0, 10, 9, 3],
            "probability": [0.8, 0.5, 0.5, 0.9],
            "segment": ["grow", "defend", "defend", "grow"],
            "priority_tier": [1, 1, 1, 2],
            "reasons": [None, "r1", "r4", "r2"],
        }
    )
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # the model did not run: no rows
    empty = BriefData(dt.date(2026, 1, 15), {}, {"target_prescribers": targets.iloc[0:0],
                                                 "prescriber_report": names})  # fmt: skip
    assert priority_targets(empty).empty


def test_model_metrics_beside_the_baselines():
    nan = None
    evaluation = evaluation_rows([
        ("lookalike", "roc_auc", nan, nan, 0.9, 100, "shown", "n"),
        ("lookalike", "pr_auc", nan, nan, 0.4, 100, "shown", "n"),
        ("lookalike", "brier", nan, nan, 0.02, 100, "shown", "n"),
        ("lookalike", "precision_at_k", 0.05, nan, 0.5, 5, "shown", "n"),
        ("lookalike", "precision_at_k", 0.10, nan, 0.3, 10, "shown", "n"),
        ("lookalike", "lift", nan, 9, 1.5, 10, "shown", "n"),
        ("lookalike", "lift", nan, 10, 6.0, 10, "shown", "n"),
        # a baseline without PR AUC and precision: blank, not dropped
        ("specialty_rate", "roc_auc", nan, nan, 0.7, 100, "baseline", "b"),
        ("specialty_rate", "brier", nan, nan, 0.03, 100, "baseline", "b"),
        ("specialty_rate", "lift", nan, 10, 2.0, 12, "baseline", "b"),
    ])  # fmt: skip
    got = model_metrics(evaluation)
    expected = pd.DataFrame(
        {
            "model": ["lookalike", "specialty_rate"],
            "roc_auc": [0.9, 0.7],
            "pr_auc": [0.4, None],
            "brier": [0.02, 0.03],
            "precision_top_10pct": [0.3, None],
            "top_decile_lift": [6.0, 2.0],
        }
    )
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert model_status(evaluation) == ("shown", "n")
    assert lift_rows(evaluation).to_dict("records") == [
        {"model": "lookalike", "score_decile": 9, "lift": 1.5},
        {"model": "lookalike", "score_decile": 10, "lift": 6.0},
        {"model": "specialty_rate", "score_decile": 10, "lift": 2.0},
    ]
    # the deciles whole, as model_lift.csv writes them (the column holds nulls: floats)
    assert lift_rows(evaluation)["score_decile"].dtype == "int64"


def test_model_status_of_a_skipped_and_of_a_missing_model():
    skipped = evaluation_rows([("lookalike", "prescribers", None, None, 96.0, 96, "skipped",
                                "96 prescribers: at least 100 are needed")])  # fmt: skip
    assert model_status(skipped) == ("skipped", "96 prescribers: at least 100 are needed")
    # a delivery without the model's tables (an older release)
    assert model_status(skipped.iloc[0:0]) == (None, None)


def test_calibration_points_pair_each_deciles_prediction_with_its_observed_share():
    nan = float("nan")
    evaluation = evaluation_rows([
        # rows of a baseline first: the lookalike still comes first
        ("volume_decile", "mean_score", nan, 10, 0.3, 12, "baseline", "b"),
        ("volume_decile", "positive_rate", nan, 10, 0.25, 12, "baseline", "b"),
        ("lookalike", "positive_rate", nan, 10, 0.5, 4, "shown", "n"),
        ("lookalike", "mean_score", nan, 10, 0.6, 4, "shown", "n"),
        ("lookalike", "mean_score", nan, 3, 0.01, 8, "shown", "n"),
        ("lookalike", "positive_rate", nan, 3, 0.0, 8, "shown", "n"),
        # other figures of the same deciles are not points
        ("lookalike", "lift", nan, 10, 6.0, 4, "shown", "n"),
        ("lookalike", "brier", nan, nan, 0.05, 12, "shown", "n"),
        ("specialty_rate", "mean_score", nan, 9, 0.2, 12, "baseline", "s"),
        ("specialty_rate", "positive_rate", nan, 9, 0.1, 12, "baseline", "s"),
    ])  # fmt: skip
    expected = pd.DataFrame(
        [
            ("lookalike", 3, 8, 0.01, 0.0),
            ("lookalike", 10, 4, 0.6, 0.5),
            ("specialty_rate", 9, 12, 0.2, 0.1),
            ("volume_decile", 10, 12, 0.3, 0.25),
        ],
        columns=["model", "score_decile", "prescribers", "mean_score", "positive_rate"],
    )
    got = calibration_points(evaluation)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # the deciles whole (model_evaluation's column holds nulls, so reads as floats)
    assert evaluation["score_decile"].dtype == "float64" and got["score_decile"].dtype == "int64"
    # a delivery without points (a skipped model, or a release before them): none, same columns
    others = evaluation[~evaluation["metric"].isin(["mean_score", "positive_rate"])]
    none = calibration_points(others)
    assert none.empty and list(none.columns) == list(expected.columns)


@pytest.mark.parametrize("empty", [True, False])
def test_outlier_counts_by_measure_and_direction(empty):
    outliers = pd.DataFrame(
        {
            "measure": ["cost_per_day", "cost_per_day", "market_fills", "cost_per_day"],
            "direction": ["high", "low", "high", "high"],
        }
    )
    if empty:  # no flag at all: every measure listed with 0
        outliers = outliers.iloc[0:0]
    got = outlier_counts(outliers).to_dict("records")
    assert got == [
        {"measure": "market_fills", "high": 0 if empty else 1, "low": 0,
         "flags": 0 if empty else 1},
        {"measure": "cost_per_day", "high": 0 if empty else 2, "low": 0 if empty else 1,
         "flags": 0 if empty else 3},
    ]  # fmt: skip
