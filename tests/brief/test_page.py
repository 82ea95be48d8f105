"""The launch brief of a real run, opened in headless Chromium from a file:// URL with the
network off: it loads with no error and no request, every chart shows, every section is there
and its headline figures are the warehouse's."""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from healthanalytics.brief.charts import MIN_RANKED_WRITERS
from tests.conftest import RUN_DATE, SAMPLE, read_tables, run_case
from tests.test_cli_inputs import cms_copy

SECTIONS = ("headline", "products", "deciles", "geography", "specialties", "segments",
            "targets", "cost", "data-quality", "methods")  # fmt: skip
CHARTS = ("product_shares", "concentration", "deciles", "state_tiles", "cities", "specialties",
          "segments", "state_cost", "data_quality")
MODEL_CHARTS = ("model_lift", "model_calibration")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("sample")
    db = str(out / "warehouse.duckdb")
    outcome = run_case(SAMPLE, output=out / "out", db=db)
    assert outcome.error is None, outcome.error
    return out / "out", db


def open_page(page_path: Path, screenshot: Path) -> dict:
    """The page as Chromium shows it: console errors, requests to hosts, images' natural
    widths, section ids, headline figures, the page's text; a full-page screenshot saved."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    remote: list[str] = []

    def only_local(route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            remote.append(url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.route("**/*", only_local)
            page.goto(page_path.as_uri(), wait_until="load")
            found = {
                "images": page.eval_on_selector_all(
                    "img", "els => els.map(e => [e.alt, e.naturalWidth, e.complete])"
                ),
                "sections": page.eval_on_selector_all("section", "els => els.map(e => e.id)"),
                "figures": dict(
                    page.eval_on_selector_all(
                        "[data-figure]",
                        "els => els.map(e => [e.dataset.figure, e.dataset.value])",
                    )
                ),
                "text": page.inner_text("body"),
                "tables": dict(
                    page.eval_on_selector_all(
                        "table",
                        "els => els.map(t => [t.id.replace('table-', ''), [...t.tBodies[0].rows]"
                        ".map(r => [...r.cells].map(c => c.innerText))])",
                    )
                ),
                "headers": page.eval_on_selector_all("table", "els => els.map(t => "
                                                     "t.tHead.rows[0].cells.length)"),
            }
            page.screenshot(path=str(screenshot), full_page=True)
            page.emulate_media(media="print")
            pdf = page.pdf(format="Letter")
            found["print_pages"] = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        finally:
            browser.close()
    return {"errors": errors, "remote": remote, **found}


def assert_shows_a_page(found: dict, screenshot: Path) -> None:
    assert found["errors"] == []
    assert found["remote"] == []
    assert found["sections"] == list(SECTIONS)
    for alt, width, complete in found["images"]:
        assert alt and complete and width > 0, alt
    colours = Image.open(io.BytesIO(screenshot.read_bytes())).convert("RGB").getcolors(1 << 24)
    assert colours is not None and len(colours) > 50  # drawn, not a blank page


def test_sample_brief_in_chromium(sample_run, tmp_path):
    out, db = sample_run
    page_path = out / "launch_brief.html"
    html = page_path.read_text()
    # self-contained: nothing fetched, every chart embedded
    assert "http://" not in html and "https://" not in html and "src=\"data:image/png" in html
    assert page_path.stat().st_size < 3_000_000
    screenshot = tmp_path / "launch_brief.png"
    found = open_page(page_path, screenshot)
    assert_shows_a_page(found, screenshot)
    assert len(found["images"]) == len(CHARTS)
    assert found["print_pages"] == len(SECTIONS)  # printed, one page per section
    # the cities drawn by claims take their segment's colour (city_report joined to city_segments)
    cities = "Scatter of city locations sized by claims, coloured by segment; "
    assert sum(alt.startswith(cities) for alt, _, _ in found["images"]) == 1
    # the headline figures are the warehouse's
    tables = read_tables(db)
    [summary] = tables["market_summary"].to_pylist()
    [run] = tables["pipeline_runs"].to_pylist()
    expected = {name: summary[name] for name in ("fills", "claims", "drug_cost", "writers",
                "prescribers", "claims_mapped_share", "claims_unknown_share")}  # fmt: skip
    expected |= {"rows_read": run["rows_read"], "claims_matched_share": run["claims_matched_share"]}
    shown = {name: float(value) for name, value in found["figures"].items()}
    assert shown.keys() == expected.keys()
    for name, value in expected.items():
        assert math.isclose(shown[name], value, rel_tol=1e-12), name
    assert f"{summary['writers']:,}" in found["text"]
    # every table has its header cells; the sections' tables show the warehouse's rows
    assert all(count > 0 for count in found["headers"])
    deciles = sorted(tables["market_deciles"].to_pylist(), key=lambda r: -r["decile"])
    assert [row[:3] for row in found["tables"]["deciles"]] == [
        [str(r["decile"]), f"{r['prescribers']:,}", f"{r['fills']:,.1f}"] for r in deciles
    ]
    products = sorted(tables["market_products"].to_pylist(),
                      key=lambda r: (-r["fills"], r["brand_name"], r["generic_name"]))  # fmt: skip
    assert [(row[0], row[3]) for row in found["tables"]["products"]] == [
        (r["brand_name"], f"{r['fills']:,.1f}") for r in products
    ]
    top = max(tables["market_prescribers"].to_pylist(), key=lambda r: (r["fills"], -r["presc_id"]))
    assert found["tables"]["targets"][0][:2] == ["1", str(top["presc_id"])]
    ranked = sorted((r for r in tables["market_geography"].to_pylist()
                     if r["level"] == "city" and r["writers"] >= MIN_RANKED_WRITERS),
                    key=lambda r: r["opportunity_rank"])  # fmt: skip
    if ranked:
        assert found["tables"]["opportunity_cities"][0][:3] == [
            str(ranked[0]["opportunity_rank"]), ranked[0]["state_id"], ranked[0]["city"]]
    else:  # a small sample: no city has enough writers to be ranked, and the page says so
        assert "opportunity_cities" not in found["tables"]
        assert f"no city has at least {MIN_RANKED_WRITERS} market writers" in found["text"]
    assert f"{run['rows_read']:,}" in found["text"]
    assert_segments_and_cost(found, tables)
    # the sample is too small for the model: the page says so and why, with no model chart
    [note] = {r["note"] for r in tables["model_evaluation"].to_pylist()
              if r["model"] == "lookalike" and r["status"] == "skipped"}  # fmt: skip
    assert f"the model was skipped in this run ({note})" in found["text"]
    assert not any(n in alt for alt, _, _ in found["images"] for n in ("Lift", "Reliability"))
    assert "CMS Medicare Part D Prescribers by Provider and Drug" in found["text"]
    assert "simplemaps US Cities Basic, CC BY 4.0" in found["text"]
    assert "Years of experience are not shown" not in found["text"]
    # the charts and the page's tables beside it, for reuse
    for name in CHARTS:
        assert (out / "charts" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    for name in ("headline", "products", "deciles", "states", "opportunity_cities",
                 "specialties", "targets", "segment_profiles", "state_cost", "peer_outliers",
                 "data_quality", "unmatched_cities", "quality_checks"):  # fmt: skip
        assert (out / "charts" / f"{name}.csv").stat().st_size > 0


def scored_evaluation(points: bool) -> pd.DataFrame:
    """model_evaluation of a scored model (tiny, hand-written), with the reliability points
    of the model and both baselines or (an earlier release's delivery) without them."""
    nan = float("nan")
    rows = []
    for model, status in (("lookalike", "shown"), ("specialty_rate", "baseline"),
                          ("volume_decile", "baseline")):  # fmt: skip
        rows += [(model, "roc_auc", nan, nan, 0.8, 40, status, "n"),
                 (model, "brier", nan, nan, 0.1, 40, status, "n"),
                 (model, "lift", nan, 10, 2.0, 20, status, "n"),
                 (model, "lift", nan, 1, 0.0, 20, status, "n")]  # fmt: skip
        if points:
            rows += [(model, "mean_score", nan, 10, 0.4, 20, status, "n"),
                     (model, "positive_rate", nan, 10, 0.5, 20, status, "n"),
                     (model, "mean_score", nan, 1, 0.1, 20, status, "n"),
                     (model, "positive_rate", nan, 1, 0.0, 20, status, "n")]  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "metric", "k_share", "score_decile", "value",
                                       "rows", "status", "note"])  # fmt: skip


@pytest.mark.parametrize("points", [True, False])
def test_the_calibration_chart_draws_every_scorer_or_says_why_not(sample_run, points):
    from healthanalytics.brief.data import read_brief_data
    from healthanalytics.brief.page import build_brief
    from healthanalytics.io.warehouse import open_warehouse

    _, db = sample_run
    with open_warehouse(db) as warehouse:
        data = read_brief_data(warehouse, RUN_DATE)
    # the sample's delivery, its model made scored: two prescribers, one per tier
    targets = pd.DataFrame(
        {
            "presc_id": [1, 2],
            "specialty": ["A", "B"],
            "presc_state": ["NY", "NY"],
            "decile": [9, 0],
            "probability": [0.6, 0.1],
            "segment": ["defend", "monitor"],
            "priority_tier": [1, 3],
            "reasons": ["r", None],
        }
    )
    tables = {**data.tables, "model_evaluation": scored_evaluation(points),
              "target_prescribers": targets}  # fmt: skip
    brief = build_brief(replace(data, tables=tables))
    shown = {chart.name: chart for chart in brief.charts}
    assert "model_lift" in shown
    note = "Not shown: the calibration chart: this delivery's model_evaluation holds no"
    if not points:
        assert "model_calibration" not in shown and "model_calibration" not in brief.tables
        assert note in brief.html
        return
    assert note not in brief.html
    expected = pd.DataFrame(
        [(model, decile, 20, score, rate) for model in ("lookalike", "specialty_rate",
         "volume_decile") for decile, score, rate in ((1, 0.1, 0.0), (10, 0.4, 0.5))],
        columns=["model", "score_decile", "prescribers", "mean_score", "positive_rate"],
    )  # fmt: skip
    pd.testing.assert_frame_equal(brief.tables["model_calibration"], expected, check_dtype=False)
    # each scorer 10 points off in each decile of 20: a mean gap of 10 points for all three
    chart = shown["model_calibration"]
    assert chart.takeaway.startswith("Mean gap from the diagonal, weighted by prescribers: model "
                                     "10.0 points (baselines: specialty rate 10.0, all-drug "
                                     "volume decile 10.0)")  # fmt: skip
    assert f"<strong>{chart.takeaway}.</strong>" in brief.html.replace("&#39;", "'")


def assert_segments_and_cost(found: dict, tables: dict) -> None:
    """The segments and cost sections show the warehouse's profiles, outlier counts and the
    state with the highest price index."""
    profiles = sorted(tables["segment_profiles"].to_pylist(), key=lambda r: r["segment"])
    assert profiles  # the sample's cities are segmented
    assert found["tables"]["segment_profiles"] == [
        [str(r["segment"]), r["segment_name"], f"{r['cities']:,}", f"{r['population']:,}",
         f"{100 * r['population_share']:.1f}%", f"{r['demand_index']:,.2f}",
         f"{r['market_writers']:,}", f"{r['market_fills_per_1000']:,.2f}"] for r in profiles
    ]  # fmt: skip
    flags = tables["peer_outliers"].to_pylist()
    assert found["tables"]["peer_outliers"] == [
        [measure, *(str(sum(1 for r in flags if r["measure"] == measure and want(r)))
                    for want in (lambda r: r["direction"] == "high",
                                 lambda r: r["direction"] == "low", lambda r: True))]
        for measure in ("market_fills", "cost_per_day")
    ]  # fmt: skip
    states = [r for r in tables["state_cost"].to_pylist() if r["price_index"] is not None]
    top = max(states, key=lambda r: (r["price_index"], [-ord(c) for c in r["presc_state"]]))
    median = statistics.median(r["price_index"] for r in states)
    assert (f"All drugs: {top['presc_state']} pays {100 * (top['price_index'] / median - 1):.0f}% "
            "more than the median state") in found["text"]  # fmt: skip


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory) -> tuple[Path, str]:
    """The bundled 100,000-line sample: enough prescribers for the model to be validated."""
    from tests.analysis.test_analysis_run import SAMPLE_100K

    out = tmp_path_factory.mktemp("scored")
    db = str(out / "warehouse.duckdb")
    outcome = run_case(SAMPLE_100K, output=out / "out", db=db)
    assert outcome.error is None, outcome.error
    return out / "out", db


def test_scored_brief_shows_the_model_beside_its_baselines(scored_run, tmp_path):
    out, db = scored_run
    screenshot = tmp_path / "scored.png"
    found = open_page(out / "launch_brief.html", screenshot)
    assert_shows_a_page(found, screenshot)
    assert len(found["images"]) == len(CHARTS) + len(MODEL_CHARTS)
    assert found["print_pages"] == len(SECTIONS)
    tables = read_tables(db)
    assert_segments_and_cost(found, tables)
    evaluation = tables["model_evaluation"].to_pylist()
    [(status, note)] = {(r["status"], r["note"]) for r in evaluation if r["model"] == "lookalike"}
    assert status != "skipped"
    assert f"({status.replace('_', ' ')}): {note}." in found["text"]

    def figure(model: str, metric: str) -> float:
        [value] = [r["value"] for r in evaluation if (r["model"], r["metric"]) == (model, metric)]
        return value

    # the model's figures and its baselines', as model_evaluation holds them
    shown = {row[0]: row[1:4] for row in found["tables"]["model_metrics"]}
    assert shown == {
        model: [f"{figure(model, m):.3f}" for m in ("roc_auc", "pr_auc", "brier")]
        for model in ("lookalike", "specialty_rate", "volume_decile")
    }
    top_lift = [r["value"] for r in evaluation
                if (r["model"], r["metric"], r["score_decile"]) == ("lookalike", "lift", 10)]
    assert f"The model's top score decile has {top_lift[0]:.1f}x the overall rate" in (
        found["text"]
    )  # fmt: skip
    # the first prescribers by tier, then probability (then NPI), as target_prescribers ranks
    targets = sorted(tables["target_prescribers"].to_pylist(),
                     key=lambda r: (r["priority_tier"], -r["probability"], r["presc_id"]))
    rows = found["tables"]["priority_targets"]
    assert len(rows) == 10
    assert [(r[1], r[6], r[7], r[8]) for r in rows] == [
        (str(t["presc_id"]), f"{100 * t['probability']:.1f}%", t["segment"],
         str(t["priority_tier"])) for t in targets[:10]
    ]  # fmt: skip
    assert [r[9] for r in rows] == [t["reasons"] or "-" for t in targets[:10]]
    for name in MODEL_CHARTS:
        assert (out / "charts" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    for name in ("priority_targets", "model_metrics", "model_lift", "model_calibration"):
        assert (out / "charts" / f"{name}.csv").stat().st_size > 0
    # the calibration chart's points: every scorer's, as model_evaluation holds them
    calibration = pd.read_csv(out / "charts" / "model_calibration.csv")
    assert sorted(zip(calibration["model"], calibration["score_decile"], strict=True)) == sorted(
        (r["model"], r["score_decile"]) for r in evaluation if r["metric"] == "mean_score"
    )
    assert set(calibration["model"]) == {"lookalike", "specialty_rate", "volume_decile"}


def test_cms_layout_brief_says_experience_is_not_shown(tmp_path):
    fact = cms_copy(tmp_path / "cms.csv")
    outcome = run_case(fact, output=tmp_path / "out", db=str(tmp_path / "w.duckdb"))
    assert outcome.error is None, outcome.error
    screenshot = tmp_path / "cms.png"
    found = open_page(tmp_path / "out" / "launch_brief.html", screenshot)
    assert_shows_a_page(found, screenshot)
    assert "Years of experience are not shown: the fact's layout (CMS) has no experience" in (
        found["text"]
    )


def test_no_analysis_run_writes_no_brief(tmp_path):
    outcome = run_case(SAMPLE, output=tmp_path / "out", db=str(tmp_path / "w.duckdb"),
                       analysis=False)  # fmt: skip
    assert outcome.error is None
    assert not (tmp_path / "out" / "launch_brief.html").exists()
    # its brief, asked for: no pointer to a segments section it does not have
    done = brief_cli("--db", str(tmp_path / "w.duckdb"), "--run-date", RUN_DATE.isoformat(),
                     "--output", "brief", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "brief" / "launch_brief.html").read_text()
    assert "Not shown: the state map" in html
    assert "segments section" not in html


def brief_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "healthanalytics", "brief", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_brief_command_rebuilds_the_page_from_the_warehouse(sample_run, tmp_path):
    _, db = sample_run
    done = brief_cli("--db", db, "--run-date", RUN_DATE.isoformat(), "--output", "again",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "again" / "launch_brief.html").stat().st_size > 100_000
    assert (tmp_path / "again" / "charts" / "deciles.png").exists()


def test_brief_command_refuses_a_date_without_delivery(sample_run, tmp_path):
    _, db = sample_run
    done = brief_cli("--db", db, "--run-date", "2020-02-29", "--output", "none", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("error: no delivery for 2020-02-29 in ")
    assert not (tmp_path / "none").exists()


def test_brief_command_reports_a_busy_warehouse_in_one_line(sample_run, tmp_path):
    import duckdb

    _, db = sample_run
    with duckdb.connect(db):  # another process holds the DuckDB file
        done = brief_cli("--db", db, "--run-date", RUN_DATE.isoformat(), cwd=tmp_path)
    assert done.returncode == 4  # BUSY: retry later (errors.ExitCode)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and db in " ".join(done.stderr.split())
