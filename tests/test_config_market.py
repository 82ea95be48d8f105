"""The market setting: `[market]` in the TOML file, the environment, `--market`; checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from healthanalytics.config import MarketSettings, load_settings
from healthanalytics.errors import user_error_message


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "healthanalytics.toml"
    path.write_text(text)
    return path


def test_default_market(monkeypatch):
    monkeypatch.delenv("HEALTHANALYTICS_MARKET", raising=False)
    settings = load_settings()
    assert settings.market == MarketSettings()
    assert settings.market.basket().name == "HMG-CoA Reductase Inhibitor"


def test_market_table_in_the_config_file(tmp_path):
    config = toml(tmp_path, '[market]\nclass = "sodium-glucose cotransporter 2 inhibitor"\n')
    basket = load_settings(config).market.basket()
    assert (basket.kind, basket.name) == ("class", "Sodium-Glucose Cotransporter 2 Inhibitor")


def test_market_names_in_the_config_file(tmp_path):
    config = toml(tmp_path, '[market]\ngenerics = ["APIXABAN"]\nbrands = ["XARELTO"]\n')
    basket = load_settings(config).market.basket()
    assert basket.ingredient_keys == ("APIXABAN", "RIVAROXABAN")


def test_flag_replaces_the_config_file_table(tmp_path):
    # the flag's area wins over the file's class; the two are not merged
    config = toml(tmp_path, '[market]\nclass = "Biguanide"\n')
    settings = load_settings(config, market="respiratory")
    assert settings.market == MarketSettings(area="respiratory")


def test_environment(monkeypatch):
    monkeypatch.setenv("HEALTHANALYTICS_MARKET__AREA", "oncology")
    assert load_settings().market.basket().name == "oncology"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # an unknown key of the table
        ('[market]\ndrugs = ["X"]\n', "market.drugs: Extra inputs are not permitted"),
        # a class and an area at once
        (
            '[market]\nclass = "Biguanide"\narea = "diabetes"\n',
            "market: choose one of a class, an area or generic/brand names, not class and area",
        ),
        # an unknown brand
        (
            '[market]\nbrands = ["LIPITR"]\n',
            "market: unknown brand name 'LIPITR': no close name; see `healthanalytics markets`",
        ),
    ],
)
def test_bad_market_is_refused_at_load(tmp_path, text, message):
    with pytest.raises(ValidationError) as caught:
        load_settings(toml(tmp_path, text))
    assert user_error_message(caught.value) == f"invalid settings: {message}"
