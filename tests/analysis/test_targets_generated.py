"""The lookalike model on the generator's output: a real run on a generated file finds the
structure the generator plants (generate/structure.py), and finds nothing of it in the same
file generated without it (UNPLANTED, same size and seed).

The label is a prescriber's market volume (statin deciles 8-10); every feature is computed
outside the market. What ties the two in PLANTED data is the prescriber propensity: one z
scales both a prescriber's breadth and its claims per line on every drug, so its fills outside
the statins predict its statin fills. UNPLANTED data has no propensity (nor specialty focus or
regional brand uptake): a prescriber's volume outside the market says nothing about its volume
inside it beyond what its specialty says, so the model can do no better than the specialty's
rate. The thresholds sit well inside the measured values (ROC AUC at 200,000 rows, seeds 2026
and 7; and at 100,000 rows, seed 2026): model 0.949 / 0.964 / 0.964 against the specialty
rate's 0.799 / 0.793 / 0.754 on PLANTED; PR AUC 0.48 / 0.51 / 0.53 against 0.06 / 0.07 / 0.06;
UNPLANTED model 0.769 / 0.795 / 0.753, within 0.01 of its specialty rate.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from healthanalytics.config import Settings
from healthanalytics.generate import generate_prescriptions
from healthanalytics.generate.structure import PLANTED, UNPLANTED, Planted
from healthanalytics.io.warehouse import open_warehouse
from healthanalytics.pipeline import run_pipeline

ROWS = 200_000  # about 7,800 prescribers, 170 in statin deciles 8-10: a stable AUC
SEED = 2026
MARKET = "HMG-CoA Reductase Inhibitor"


def evaluated(tmp_path: Path, planted: Planted) -> dict[tuple[str, str], dict]:
    """model_evaluation of a run on a file generated with `planted`, by (model, metric),
    the metrics of one row per model (no k_share, no score decile)."""
    fact = generate_prescriptions(ROWS, tmp_path / "fact.csv.gz", seed=SEED, planted=planted)
    out = tmp_path / "out"
    run_pipeline(
        Settings(fact=str(fact.path), output=str(out), market=MARKET, run_date="2024-03-01",
                 threads=2, log_file=str(tmp_path / "run.log"))
    )  # fmt: skip
    with open_warehouse(str(out / "healthanalytics.duckdb")) as warehouse:
        rows = warehouse.read_table("model_evaluation").to_pylist()
    return {(r["model"], r["metric"]): r for r in rows
            if r["k_share"] is None and r["score_decile"] is None}  # fmt: skip


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict[tuple[str, str], dict]:
    return evaluated(tmp_path_factory.mktemp("planted"), PLANTED)


@pytest.fixture(scope="module")
def unplanted(tmp_path_factory) -> dict[tuple[str, str], dict]:
    return evaluated(tmp_path_factory.mktemp("unplanted"), UNPLANTED)


def value(evaluation: dict[tuple[str, str], dict], model: str, metric: str) -> float:
    return evaluation[(model, metric)]["value"]


def test_the_model_finds_the_planted_propensity(planted):
    # scored, not skipped (whether it is `shown` depends on the volume-decile baseline, whose
    # volume holds the statins themselves: measured within 0.02 of the model)
    assert planted[("lookalike", "roc_auc")]["status"] != "skipped"
    # the outside volume the propensity drives ranks writers far better than the specialty
    for metric, margin in (("roc_auc", 0.08), ("pr_auc", 0.2)):
        baseline = value(planted, "specialty_rate", metric)
        assert value(planted, "lookalike", metric) > baseline + margin, metric


def test_without_the_planted_structure_the_model_knows_only_the_specialty(planted, unplanted):
    assert unplanted[("lookalike", "roc_auc")]["status"] != "skipped"
    auc = value(unplanted, "lookalike", "roc_auc")
    assert value(planted, "lookalike", "roc_auc") > auc + 0.08
    assert abs(auc - value(unplanted, "specialty_rate", "roc_auc")) < 0.05
