"""`healthanalytics markets` and `--market`: the listing, and a bad market refused before a run."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import error_line, run_cli


def markets(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "healthanalytics", "markets", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_markets_of_one_area():
    done = markets("--area", "dental")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "Drug classes of the bundled map by therapeutic area (FDA Established Pharmacologic "
        "Class: generic names, separated by semicolons).\n"
        "Choose a market with --market CLASS, --market AREA or --market NAME,NAME,... "
        "(default: HMG-CoA Reductase Inhibitor).\n"
        "\n"
        "dental\n"
        "  Antiseptic: CHLORHEXIDINE GLUCONATE\n"
        "  Fluoride: SODIUM FLUORIDE\n"
    )


def test_markets_lists_every_area_in_order():
    done = markets()
    areas = [line for line in done.stdout.splitlines() if line and not line.startswith(" ")]
    assert areas[2:] == [
        "allergy", "cardiovascular", "dental", "dermatology", "diabetes", "endocrine",
        "gastrointestinal", "immunology", "infection", "musculoskeletal", "neurology",
        "nutrition", "oncology", "ophthalmology", "pain", "psychiatry", "renal", "respiratory",
        "supplies", "urology",
    ]  # fmt: skip
    assert "  HMG-CoA Reductase Inhibitor (default): ATORVASTATIN CALCIUM; " in done.stdout


def test_markets_unknown_area_is_a_usage_error():
    done = markets("--area", "diabetis")
    assert done.returncode == 2
    assert done.stdout == ""
    assert " ".join(done.stderr.split()) == (
        "error: unknown therapeutic area 'diabetis': did you mean diabetes?"
    )


def failing_run(tmp_path, *args: str) -> str:
    """`healthanalytics run ARGS` that must stop with usage exit 2 before writing anything."""
    out = tmp_path / "out"
    done = run_cli("--output", str(out), "--db", str(tmp_path / "w.duckdb"), *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert not out.exists()
    return error_line(done)


def test_run_with_an_unknown_market_stops_before_running(tmp_path):
    message = failing_run(tmp_path, "--market", "ELIQUIS,XARELT")
    assert message == (
        "error: invalid settings: market: unknown class, area, generic or brand 'XARELT': "
        "did you mean XARELTO?"
    )


def test_run_with_an_unknown_market_in_the_config_file(tmp_path):
    config = tmp_path / "h.toml"
    config.write_text('[market]\nclass = "Statins"\n')
    message = failing_run(tmp_path, "--config", str(config))
    assert message == (
        "error: invalid settings: market: unknown class 'Statins': no close name; see "
        "`healthanalytics markets`"
    )


def test_run_with_a_word_of_a_class_points_to_the_class(tmp_path):
    # the statins: their class holds the word in all its generics, before the close NYSTATIN
    message = failing_run(tmp_path, "--market", "statin")
    assert message == (
        "error: invalid settings: market: unknown class, area, generic or brand 'statin': "
        "'statin' is in the name or generics of HMG-CoA Reductase Inhibitor, Polyene "
        "Antifungal, Dietary Cholesterol Absorption Inhibitor; did you mean NYSTATIN?"
    )


def test_run_with_a_name_close_to_nothing_says_where_to_look(tmp_path):
    message = failing_run(tmp_path, "--market", "NOSUCHDRUGZ")
    assert message == (
        "error: invalid settings: market: unknown class, area, generic or brand 'NOSUCHDRUGZ': "
        "no close name; see `healthanalytics markets`"
    )
