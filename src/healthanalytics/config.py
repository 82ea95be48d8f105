"""Run settings, layered: defaults < TOML config file < environment < CLI flags."""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from healthanalytics.analysis.market import MarketBasket, parse_market, resolve_market
from healthanalytics.engines.options import DuckDBOptions, SparkOptions
from healthanalytics.io.files import uri_scheme
from healthanalytics.io.inputs import bundled
from healthanalytics.io.report_files import check_format

ReportFormat = Literal["json", "orc", "parquet", "csv"]
Engine = Literal["duckdb", "spark"]
# Python codec names (codecs.lookup(...).name) of the fact encodings both engines read
SUPPORTED_ENCODINGS = ("utf-8", "iso8859-1", "cp1252")
SAMPLE_FACT = "prescriber_fact_100k.csv.gz"
SAMPLE_CITIES = "us_cities_dimension.parquet"
WAREHOUSE_FILE = "healthanalytics.duckdb"


class ReportFileSettings(BaseSettings):
    """How one report is written to files."""

    format: ReportFormat
    compression: str | None
    files: int = Field(ge=1)

    @field_validator("compression", mode="before")
    @classmethod
    def _none_means_uncompressed(cls, value: str | None) -> str | None:
        return None if value in (None, "", "none", "uncompressed") else value

    @model_validator(mode="after")
    def _offered(self) -> ReportFileSettings:
        check_format(self.format, self.compression)
        return self


class MarketSettings(BaseModel):
    """The market basket of the analysis: a class (TOML key `class`), a therapeutic area, or
    generic and/or brand names; none of them means the default market. `--market` gives one
    text, read by `parse_market`. Checked against the drug-class map when the settings load."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    epc: str | None = Field(default=None, alias="class")
    area: str | None = None
    generics: list[str] = Field(default_factory=list)
    brands: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _flag_text(cls, value: Any) -> Any:
        return parse_market(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known(self) -> MarketSettings:
        self.basket()
        return self

    def basket(self) -> MarketBasket:
        """The resolved basket (MarketError for an unknown name)."""
        return resolve_market(self.epc, self.area, self.generics, self.brands)


class Settings(BaseSettings, DuckDBOptions, SparkOptions):
    """Everything a run needs. Field names are the TOML keys; env vars use HEALTHANALYTICS_.
    The engines' own settings are declared in engines/options.py."""

    model_config = SettingsConfigDict(
        env_prefix="HEALTHANALYTICS_", extra="forbid", env_nested_delimiter="__"
    )

    city: str | None = None
    fact: str | None = None
    output: str = "output"
    db_url: str | None = None
    run_date: dt.date = Field(default_factory=dt.date.today)
    engine: Engine = "duckdb"
    log_file: str = "logs/presc_run_pipeline.log"

    # how the fact CSV is written (the city dimension is always comma-separated UTF-8)
    delimiter: str = ","
    encoding: str = "utf-8"

    # a delivery keeping fewer rows than this share of the one it replaces (or none at all) is
    # refused unless allowed; how long a run waits for another using its date or folder
    min_delivery_share: float = Field(default=0.5, ge=0, le=1)
    allow_smaller_delivery: bool = False
    lock_timeout: float = Field(default=0, ge=0)
    # an s3:// output keeps this many published runs per delivery date (io/publish.py)
    keep_runs: int = Field(default=2, ge=1)

    top_n: int = Field(default=5, ge=1)
    min_years: int = 20
    max_years: int = 50

    city_report: ReportFileSettings = ReportFileSettings(
        format="json", compression="bzip2", files=1
    )
    prescriber_report: ReportFileSettings = ReportFileSettings(
        format="orc", compression="snappy", files=2
    )

    # the drugs the launch competes with, and whether the launch analysis runs at all
    market: MarketSettings = Field(default_factory=MarketSettings)
    analysis: bool = True

    @field_validator("delimiter", mode="before")
    @classmethod
    def _one_character(cls, value: str) -> str:
        value = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(
            value, value
        )
        if len(value) != 1 or value in ('"', "\n", "\r"):
            raise ValueError(
                f"delimiter {value!r}: give one character (or tab, comma, semicolon, pipe), "
                "not a quote or line break"
            )
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            name = codecs.lookup(value).name
        except LookupError:
            raise ValueError(
                f"encoding {value!r} is unknown: use utf-8 (default), latin-1 or cp1252"
            ) from None
        if name not in SUPPORTED_ENCODINGS:
            raise ValueError(
                f"encoding {value!r} is not offered: use utf-8 (default), latin-1 or cp1252"
            )
        return name

    @field_validator("min_years", "max_years")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("years of experience bounds must be >= 0")
        return value

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Settings:
        if self.min_years > self.max_years:
            raise ValueError(f"min_years ({self.min_years}) is above max_years ({self.max_years})")
        return self

    @model_validator(mode="after")
    def _warehouse_outside_uri_output(self) -> Settings:
        # the default DuckDB file lives in the output folder, which a URI may not hold: it needs
        # a local file system, and it is opened before any engine could write elsewhere
        if self.db_url is None and uri_scheme(self.output) is not None:
            raise ValueError(
                f"--output {self.output} is a URI, where the default DuckDB warehouse "
                "(<output>/healthanalytics.duckdb) cannot be kept: pass --db with a local DuckDB "
                "file or a postgresql:// URL"
            )
        return self

    # Where the defaults of the inputs and the warehouse are decided, once.
    @property
    def fact_source(self) -> str:
        """The fact input: `fact`, or the bundled 100k-line sample."""
        return self.fact or bundled(SAMPLE_FACT)

    @property
    def city_source(self) -> str:
        """The city dimension: `city`, or the bundled simplemaps US Cities file."""
        return self.city or bundled(SAMPLE_CITIES)

    @property
    def warehouse_target(self) -> str:
        """The database: a postgresql:// URL or a DuckDB file path (in the output folder)."""
        return self.db_url or str(Path(self.output) / WAREHOUSE_FILE)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; `overrides` are CLI flags (None means "not given")."""
    given = {key: value for key, value in overrides.items() if value is not None}
    if config_file is None:
        return Settings(**given)
    if not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")
    layered = type(
        "Settings",
        (Settings,),
        {"model_config": {**Settings.model_config, "toml_file": config_file}},
    )
    return layered(**given)
