"""The analysis stage in a real run on the bundled 100,000-line sample: its tables compared
whole with the independent implementation (tests/reference.py); skipped with --no-analysis;
a failing analysis costs the delivery nothing but its own tables."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from healthanalytics import pipeline
from healthanalytics.analysis.cost import MIN_CLAIMS_FOR_COST
from healthanalytics.analysis.ingredients import ingredient_key
from healthanalytics.config import Settings
from healthanalytics.io.inputs import bundled
from healthanalytics.io.warehouse import open_warehouse
from healthanalytics.stages import analysis as analysis_stage
from healthanalytics.stages import targets as targets_stage
from tests import reference
from tests.analysis import reference_cost
from tests.conftest import CITIES
from tests.test_cli_end_to_end import run_cli

SAMPLE_100K = Path(bundled("prescriber_fact_100k.csv.gz"))
ANALYSIS_TABLES = (
    "market_prescribers",
    "market_deciles",
    "market_products",
    "market_specialties",
    "market_geography",
    "market_summary",
    "prescriber_cost",
    "state_cost",
    "peer_outliers",
    "target_prescribers",
    "model_evaluation",
    "model_importance",
)
RUN_DATE = "2024-03-01"


def run(tmp_path: Path, **settings) -> dict[str, list[dict]]:
    """The pipeline run in process on the 100k sample into `tmp_path`; every table's rows."""
    config = Settings(output=str(tmp_path), run_date=RUN_DATE, threads=2,
                      log_file=str(tmp_path / "run.log"), **settings)  # fmt: skip
    pipeline.run_pipeline(config)
    return tables(tmp_path)


def tables(out: Path) -> dict[str, list[dict]]:
    with open_warehouse(str(out / "healthanalytics.duckdb")) as warehouse:
        names = (*ANALYSIS_TABLES, "pipeline_runs", "prescriber_report", "city_report")
        return {name: warehouse.read_table(name).to_pylist() for name in names}


def same(got: list[dict], want: list[dict], key: list[str]) -> None:
    """Whole tables equal, rows matched by `key`, floats to 1e-9 relative."""
    got = sorted(({k: v for k, v in r.items() if k != "delivery_date"} for r in got),
                 key=lambda r: tuple(repr(r[k]) for k in key))  # fmt: skip
    want = sorted(want, key=lambda r: tuple(repr(r[k]) for k in key))
    assert len(got) == len(want)
    for left, right in zip(got, want, strict=True):
        assert left.keys() == right.keys() or set(right) <= set(left)
        for column, value in right.items():
            if isinstance(value, float) and left[column] is not None:
                assert math.isclose(left[column], value, rel_tol=1e-9), (column, left, right)
            else:
                assert left[column] == value, (column, left, right)


@pytest.fixture(scope="module")
def statins(tmp_path_factory) -> dict[str, list[dict]]:
    return run(tmp_path_factory.mktemp("statins"))


def test_statin_market_matches_the_reference(statins):
    basket = Settings().market.basket()
    kept, _ = reference.clean(SAMPLE_100K)
    keys: dict[str | None, bool] = {}

    def in_market(generic: str | None) -> bool:
        if generic not in keys:  # one key per distinct name
            keys[generic] = ingredient_key(generic) in basket.ingredient_keys
        return keys[generic]

    prescribers = reference.market_prescribers(kept, in_market)
    same(statins["market_prescribers"], prescribers, ["presc_id"])
    same(statins["market_deciles"], reference.market_deciles(prescribers), ["decile"])
    specialties = reference.market_specialties(prescribers)
    same(statins["market_specialties"], specialties, ["specialty"])
    # ranked 1..n by fills, most first
    ranked = sorted(statins["market_specialties"], key=lambda r: r["rank"])
    assert [r["rank"] for r in ranked] == list(range(1, len(specialties) + 1))
    assert all(a["fills"] >= b["fills"] for a, b in itertools.pairwise(ranked))
    assert math.isclose(sum(r["fills_share"] for r in ranked), 1.0, rel_tol=1e-9)
    geography = reference.market_geography(kept, prescribers, CITIES)
    same(statins["market_geography"], geography, ["level", "opportunity_rank"])
    products = reference.market_products(kept, in_market, ingredient_key)
    same(statins["market_products"], products, ["brand_name", "generic_name"])
    (summary,) = statins["market_summary"]
    want = reference.market_concentration(prescribers, products)
    same([summary], [want], ["hhi"])
    # the sample's statins: 5 generics written as themselves, every decile populated
    assert summary["market"] == "HMG-CoA Reductase Inhibitor"
    assert summary["products"] == 5 and summary["brand_products"] == 0
    assert [r["decile"] for r in statins["market_deciles"]] == list(range(10, -1, -1))
    assert summary["claims_mapped_share"] == 1.0
    assert statins["pipeline_runs"][0]["analysis_error"] is None


def test_cost_tables_agree_with_each_other(statins):
    cost = statins["prescriber_cost"]
    known = {p["presc_id"]: p for p in statins["market_prescribers"]}
    assert cost and all(r["presc_id"] in known for r in cost)
    assert all(r["eligible"] == int(r["claims"] >= 50) for r in cost)
    # the states' rows sum their eligible prescribers with a known state, weighted by volume
    eligible = [r for r in cost if r["eligible"] and r["presc_state"] is not None]
    states = statins["state_cost"]
    assert sum(r["prescribers"] for r in states) == len(eligible)
    assert math.isclose(
        sum(r["days"] for r in states), sum(r["days"] for r in eligible), rel_tol=1e-9
    )
    for r in states:
        assert math.isclose(r["days_per_dollar"], r["days"] / r["drug_cost"], rel_tol=1e-9)
    # every flag is beyond 3.5 and names a prescriber of the run
    assert all(abs(r["z"]) > 3.5 and r["presc_id"] in known for r in statins["peer_outliers"])


def test_cost_tables_match_the_reference(statins):
    kept, _ = reference.clean(SAMPLE_100K)
    prescribers = statins["market_prescribers"]
    cost = reference_cost.prescriber_cost(kept, prescribers, MIN_CLAIMS_FOR_COST)
    same(statins["prescriber_cost"], cost, ["presc_id"])
    outliers = reference_cost.peer_outliers(prescribers, cost)
    assert outliers  # the sample has some
    same(statins["peer_outliers"], outliers, ["presc_id", "measure"])


def test_the_lookalike_model_scores_every_prescriber_of_the_sample(statins):
    prescribers = {r["presc_id"]: r for r in statins["market_prescribers"]}
    targets = statins["target_prescribers"]
    # every prescriber scored once, with the deciles market_prescribers gives it
    assert sorted(r["presc_id"] for r in targets) == sorted(prescribers)
    for r in targets:
        market = prescribers[r["presc_id"]]
        assert r["decile"] == market["decile"]
        assert r["specialty_decile"] == market["specialty_decile"]
        assert r["adoption"] == ("high" if market["decile"] >= 8 else "low")
    evaluation = statins["model_evaluation"]
    auc = {r["model"]: r["value"] for r in evaluation if r["metric"] == "roc_auc"}
    # the specialty alone is far behind the model on the sample's statins
    assert auc["lookalike"] > auc["specialty_rate"] + 0.05
    shown = auc["lookalike"] > max(auc["specialty_rate"], auc["volume_decile"])
    assert {r["status"] for r in evaluation if r["model"] == "lookalike"} == {
        "shown" if shown else "below_baseline"
    }
    (positives,) = [r["value"] for r in evaluation
                    if (r["model"], r["metric"]) == ("lookalike", "positives")]  # fmt: skip
    assert positives == sum(1 for p in prescribers.values() if p["decile"] >= 8)
    # each scorer's reliability points cover every prescriber once and every positive
    for model in ("lookalike", "specialty_rate", "volume_decile"):
        mine = [r for r in evaluation if r["model"] == model]
        rates = [r for r in mine if r["metric"] == "positive_rate"]
        scores = [r for r in mine if r["metric"] == "mean_score"]
        assert sum(r["rows"] for r in rates) == len(prescribers)
        assert round(sum(r["rows"] * r["value"] for r in rates)) == positives
        # a predicted probability beside each observed share, of the same prescribers
        assert sorted((r["score_decile"], r["rows"]) for r in scores) == sorted(
            (r["score_decile"], r["rows"]) for r in rates
        )
    ranks = sorted(r["rank"] for r in statins["model_importance"])
    assert ranks == list(range(1, len(ranks) + 1))


def test_geography_counts_every_prescriber_with_a_known_state(statins):
    geography = statins["market_geography"]
    states = [r for r in geography if r["level"] == "state"]
    cities = [r for r in geography if r["level"] == "city"]
    assert states and cities
    prescribers = statins["market_prescribers"]
    known = sum(p["fills"] for p in prescribers if p["presc_state"] is not None)
    assert math.isclose(sum(r["fills"] for r in states), known, rel_tol=1e-9)
    assert sum(r["writers"] for r in states) == sum(
        1 for p in prescribers if p["presc_state"] is not None and p["fills"] > 0
    )
    # a city's prescribers are among its state's: no more fills in a state's cities than in it
    in_cities: dict[str, float] = {}
    for r in cities:
        in_cities[r["state_id"]] = in_cities.get(r["state_id"], 0.0) + r["fills"]
    by_state = {r["state_id"]: r["fills"] for r in states}
    assert all(fills <= by_state[s] * (1 + 1e-9) for s, fills in in_cities.items())
    # ranked 1..n within each level
    for level in (states, cities):
        assert sorted(r["opportunity_rank"] for r in level) == list(range(1, len(level) + 1))


def test_no_analysis_delivers_the_same_reports_and_removes_the_dates_analysis(statins, tmp_path):
    first = run(tmp_path)
    assert len(first["market_summary"]) == 1
    # the same date again without the analysis: its earlier analysis rows go with the rest
    finished = run_cli("--output", str(tmp_path), "--run-date", RUN_DATE, "--no-analysis",
                       "--threads", "2", "--log-file", str(tmp_path / "run.log"),
                       cwd=tmp_path)  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    assert "skipped (--no-analysis)" in finished.stdout + finished.stderr
    second = tables(tmp_path)
    assert {name: second[name] for name in ANALYSIS_TABLES} == {n: [] for n in ANALYSIS_TABLES}
    # the reports are the analysis run's, whole
    for name in ("prescriber_report", "city_report"):
        assert second[name] == statins[name]
    assert [r["analysis_error"] for r in second["pipeline_runs"]] == [None, None]


def test_a_failing_analysis_is_recorded_and_the_reports_delivered(
    statins, tmp_path, monkeypatch, caplog
):
    def broken(prescribers):
        raise RuntimeError("deciles broke")

    # a fault injected into one analysis transform
    monkeypatch.setattr(analysis_stage, "market_deciles", broken)
    got = run(tmp_path)
    assert {name: got[name] for name in ANALYSIS_TABLES} == {n: [] for n in ANALYSIS_TABLES}
    (record,) = got["pipeline_runs"]
    assert (record["status"], record["analysis_error"]) == (
        "success",
        "RuntimeError: deciles broke",
    )
    assert got["prescriber_report"] == statins["prescriber_report"]
    assert (
        caplog.messages.count(
            "analysis failed; the reports are delivered without it: RuntimeError: deciles broke"
        )
        == 1
    )


def test_a_failing_model_costs_the_market_tables_nothing(statins, tmp_path, monkeypatch):
    def broken(inputs):
        raise RuntimeError("model broke")

    # a fault injected into the lookalike model
    monkeypatch.setattr(targets_stage, "score_prescribers", broken)
    got = run(tmp_path)
    (record,) = got["pipeline_runs"]
    assert (record["status"], record["analysis_error"]) == ("success", None)
    keys = {"market_prescribers": ["presc_id"], "market_deciles": ["decile"],
            "market_products": ["brand_name", "generic_name"],
            "market_specialties": ["specialty"], "market_summary": ["market"],
            "market_geography": ["level", "state_id", "city_id"]}  # fmt: skip
    for name, key in keys.items():  # the market's tables, whole
        want = [{k: v for k, v in r.items() if k != "delivery_date"} for r in statins[name]]
        same(got[name], want, key)
    assert got["target_prescribers"] == [] and got["model_importance"] == []
    reason = "the model failed: RuntimeError: model broke"
    assert {(r["metric"], r["status"], r["note"]) for r in got["model_evaluation"]} == {
        (metric, "skipped", reason) for metric in ("prescribers", "positives", "prevalence")
    }


def test_analysis_tables_failing_their_checks_are_dropped_not_the_delivery(
    statins, tmp_path, monkeypatch
):
    real = analysis_stage.market_deciles

    def doubled(prescribers):
        return real(prescribers).union(real(prescribers), distinct=False)

    # every decile twice: market_deciles_unique_decile fails
    monkeypatch.setattr(analysis_stage, "market_deciles", doubled)
    got = run(tmp_path)
    (record,) = got["pipeline_runs"]
    assert record["status"] == "success"
    assert record["analysis_error"].startswith(
        "QualityCheckError: data-quality checks failed: market_deciles_unique_decile: 11 "
    )
    assert {name: got[name] for name in ANALYSIS_TABLES} == {n: [] for n in ANALYSIS_TABLES}
    assert got["city_report"] == statins["city_report"]
