"""Settings layering: defaults < TOML config file < environment < CLI flags."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from healthanalytics.config import WAREHOUSE_FILE, load_settings
from healthanalytics.io.inputs import bundled


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "healthanalytics.toml"
    path.write_text(
        'output = "from-toml"\ntop_n = 7\nengine = "duckdb"\nrun_date = 2026-01-02\n'
        '[prescriber_report]\nformat = "parquet"\ncompression = "zstd"\nfiles = 3\n'
    )
    return path


def test_defaults_when_nothing_is_given(monkeypatch):
    for name in ("HEALTHANALYTICS_OUTPUT", "HEALTHANALYTICS_TOP_N", "HEALTHANALYTICS_FACT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.output, settings.top_n, settings.engine) == ("output", 5, "duckdb")
    # the defaults of the inputs and the warehouse, decided in one place
    assert settings.fact_source == bundled("prescriber_fact_100k.csv.gz")
    assert settings.city_source == bundled("us_cities_dimension.parquet")
    assert settings.warehouse_target == str(Path("output") / WAREHOUSE_FILE)


def test_toml_overrides_defaults(toml, monkeypatch):
    monkeypatch.delenv("HEALTHANALYTICS_TOP_N", raising=False)
    settings = load_settings(toml)
    assert (settings.output, settings.top_n, settings.run_date) == (
        "from-toml", 7, dt.date(2026, 1, 2),
    )  # fmt: skip
    # a nested table replaces the default report settings
    report = settings.prescriber_report
    assert (report.format, report.compression, report.files) == ("parquet", "zstd", 3)


def test_environment_overrides_toml(toml, monkeypatch):
    monkeypatch.setenv("HEALTHANALYTICS_TOP_N", "9")
    monkeypatch.setenv("HEALTHANALYTICS_PRESCRIBER_REPORT__FILES", "4")
    settings = load_settings(toml)
    assert settings.top_n == 9
    assert settings.output == "from-toml"  # what the environment does not set stays
    assert settings.prescriber_report.files == 4


def test_flags_override_environment_and_toml(toml, monkeypatch):
    monkeypatch.setenv("HEALTHANALYTICS_TOP_N", "9")
    settings = load_settings(toml, top_n=2, output=None)  # None: the flag was not given
    assert (settings.top_n, settings.output) == (2, "from-toml")


def test_bad_values_are_refused_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("HEALTHANALYTICS_TOP_N", "0")
    with pytest.raises(ValidationError, match="top_n"):
        load_settings()
    monkeypatch.delenv("HEALTHANALYTICS_TOP_N")
    with pytest.raises(ValidationError, match=r"min_years \(40\) is above max_years \(30\)"):
        load_settings(min_years=40, max_years=30)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_settings(tmp_path / "missing.toml")


def test_engine_settings_are_flat_keys_layered_like_the_rest(tmp_path, monkeypatch):
    # declared in engines/options.py, read from the same sources in the same order
    config = tmp_path / "engines.toml"
    config.write_text('threads = 3\nmaster = "local[2]"\n[spark_conf]\n"spark.a" = "1"\n')
    monkeypatch.setenv("HEALTHANALYTICS_THREADS", "4")
    settings = load_settings(config, master="spark://host:7077")
    assert (settings.threads, settings.master, settings.spark_conf) == (
        4, "spark://host:7077", {"spark.a": "1"},
    )  # fmt: skip
