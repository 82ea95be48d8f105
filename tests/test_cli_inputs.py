"""Every input form the rules allow gives the same reports (layouts, compressions, Parquet,
folders), each run in process and every persisted report compared whole with tests/reference.py."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from healthanalytics.io.inputs import bundled
from healthanalytics.layouts import CMS, COURSE
from tests.conftest import SAMPLE, assert_reports_match, run_case


def cms_copy(path: Path) -> Path:
    """The sample under current CMS column names, without the experience column."""
    rename = {COURSE[key][0]: CMS[key][0] for key in CMS}
    with open(SAMPLE, newline="") as src:
        rows = list(csv.reader(src))
    keep = [i for i, name in enumerate(rows[0]) if name in rename]
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([rename[rows[0][i]] for i in keep] + ["Prscrbr_Type_Src"])
        writer.writerows([row[i] for i in keep] + ["S"] for row in rows[1:])
    return path


def variants(tmp: Path) -> dict[str, Path]:
    data = SAMPLE.read_bytes()
    (tmp / "parts").mkdir()
    lines = data.decode().splitlines(keepends=True)
    (tmp / "parts" / "part-0.csv").write_text("".join(lines[:60]))
    (tmp / "parts" / "part-1.csv").write_text(lines[0] + "".join(lines[60:]))
    (tmp / "f.csv.gz").write_bytes(gzip.compress(data))
    (tmp / "f.csv.bz2").write_bytes(bz2.compress(data))
    with pa.CompressedOutputStream(str(tmp / "f.csv.zst"), "zstd") as out:
        out.write(data)
    text = pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in lines[0].strip().split(",")},
            strings_can_be_null=True,
        ),
    )
    pq.write_table(text, tmp / "f.parquet")
    named_wrong = tmp / "no_suffix"  # formats come from the first bytes, not the name
    named_wrong.write_bytes(gzip.compress(data))
    return {
        "folder": tmp / "parts",
        "gzip": tmp / "f.csv.gz",
        "bzip2": tmp / "f.csv.bz2",
        "zstd": tmp / "f.csv.zst",
        "parquet": tmp / "f.parquet",
        "no_suffix": named_wrong,
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    return variants(tmp_path_factory.mktemp("inputs"))


@pytest.fixture
def run(tmp_path):
    """`run(fact)`: the pipeline in process, into this test's output folder and DuckDB file."""
    return lambda fact: run_case(fact, output=tmp_path / "out", db=str(tmp_path / "w.duckdb"))


@pytest.mark.parametrize("kind", ["folder", "gzip", "bzip2", "zstd", "parquet", "no_suffix"])
def test_input_forms_give_the_same_reports(inputs, kind, run):
    outcome = run(inputs[kind])
    assert outcome.error is None
    assert_reports_match(outcome.tables, SAMPLE)


def test_cms_layout_skips_the_experience_filter(run, tmp_path):
    fact = cms_copy(tmp_path / "cms.csv")
    outcome = run(fact)
    assert outcome.error is None
    assert_reports_match(outcome.tables, fact, years=None)
    assert any("experience filter is skipped" in message for message in outcome.log)


def test_lines_the_report_cannot_rank_do_not_fail_the_run(run, tmp_path):
    # the report's checks once failed the run on a kept prescriber without a state, and on a
    # ten-digit NPI with a leading 0, whose integer shows nine digits
    with open(SAMPLE, newline="") as src:
        header, *lines = list(csv.reader(src))
    column = {name: i for i, name in enumerate(header)}
    extra = []
    for npi, state in (("1234567893", " "), ("0123456789", "TX")):
        line = list(lines[0])
        line[column["npi"]], line[column["nppes_provider_state"]] = npi, state
        line[column["year_exp"]], line[column["total_claim_count"]] = "= 30.0", "99999"
        extra.append(line)
    fact = tmp_path / "odd_lines.csv"
    with open(fact, "w", newline="") as out:
        csv.writer(out).writerows([header, *lines, *extra])
    outcome = run(fact)
    assert outcome.error is None
    assert_reports_match(outcome.tables, fact)
    assert (123456789, "TX") in [(r["presc_id"], r["presc_state"])
                                 for r in outcome.rows("prescriber_report")]  # fmt: skip


def test_failed_run_is_recorded_as_failed(run, tmp_path):
    fact = tmp_path / "ragged.csv"
    fact.write_text(SAMPLE.read_text() + "1234567893,ONLY,THREE\n")
    outcome = run(fact)
    assert outcome.error is not None
    assert [(r["status"], r["rows_read"]) for r in outcome.rows("pipeline_runs")] == [
        ("failed", None)
    ]
    assert outcome.rows("city_report") == []


def test_bundled_cities_file_is_credited():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "simplemaps" in readme and "CC BY 4.0" in readme
    assert Path(bundled("us_cities_dimension.parquet")).exists()
