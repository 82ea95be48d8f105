"""The synthetic Part D generator: layouts, determinism, realism and the dirt it injects."""

from __future__ import annotations

import csv
import gzip
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from healthanalytics.generate import GenerateSummary, generate_prescriptions
from healthanalytics.generate import writer as generate_writer
from healthanalytics.generate.catalog import load_catalog
from healthanalytics.generate.npi import is_valid_npi, with_check_digit
from healthanalytics.generate.prescriptions import build_chunk
from healthanalytics.generate.structure import UNPLANTED
from healthanalytics.layouts import detect_layout

ROWS = 50_000
DATA = resources.files("healthanalytics") / "data"
CMS_HEADER = [
    "Prscrbr_NPI", "Prscrbr_Last_Org_Name", "Prscrbr_First_Name", "Prscrbr_City",
    "Prscrbr_State_Abrvtn", "Prscrbr_State_FIPS", "Prscrbr_Type", "Prscrbr_Type_Src", "Brnd_Name",
    "Gnrc_Name", "Tot_Clms", "Tot_30day_Fills", "Tot_Day_Suply", "Tot_Drug_Cst", "Tot_Benes",
    "GE65_Sprsn_Flag", "GE65_Tot_Clms", "GE65_Tot_30day_Fills", "GE65_Tot_Drug_Cst",
    "GE65_Tot_Day_Suply", "GE65_Bene_Sprsn_Flag", "GE65_Tot_Benes",
]  # fmt: skip
TEN_DIGITS = re.compile(r"[0-9]{10}")


def read_text_table(path: Path) -> dict[str, list[str]]:
    """Every column as text, blanks as empty strings, the way the pipeline reads it."""
    with open(path, newline="") as handle:
        header = next(csv.reader(handle))
    table = pcsv.read_csv(
        path,
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
        ),
    )
    return table.to_pydict()


def course_header() -> list[str]:
    with (DATA / "prescriber_fact_sample.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    return ["years_of_exp" if name == "year_exp" else name for name in header]


def normalise(name: str) -> str:
    """The earlier matching key docs/RULES.md names (City report): punctuation removed, only a
    leading ST/FT/MT spelled out; upper case, one space."""
    text = " ".join(re.sub(r"[^\w\s]", "", name.upper()).split())
    for short, long in (("ST ", "SAINT "), ("FT ", "FORT "), ("MT ", "MOUNT ")):
        if text.startswith(short):
            text = long + text[len(short) :]
    return text


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateSummary, dict]:
    path = tmp_path_factory.mktemp("generate") / "course.csv"
    summary = generate_prescriptions(ROWS, path, seed=7)
    return summary, read_text_table(path)


def test_summary_reports_exact_rows_and_file(course):
    summary, table = course
    assert summary.rows == ROWS
    assert len(table["npi"]) == ROWS
    assert summary.bytes == summary.path.stat().st_size
    assert summary.prescribers > 0 and summary.seconds > 0
    assert set(summary.dirty) == {"duplicate_row", "missing_drug", "invalid_npi", "blank_claims"}


def test_same_seed_gives_same_bytes_and_another_seed_differs(tmp_path):
    first = generate_prescriptions(20_000, tmp_path / "a.csv", seed=3)
    again = generate_prescriptions(20_000, tmp_path / "b.csv", seed=3)
    other = generate_prescriptions(20_000, tmp_path / "c.csv", seed=4)
    assert first.path.read_bytes() == again.path.read_bytes()
    assert first.path.read_bytes() != other.path.read_bytes()
    assert first.dirty == again.dirty


def test_unplanted_writes_the_chunks_built_without_the_structure(tmp_path, monkeypatch):
    # two chunks, written as Parquet: the tables as built, comparable whole
    monkeypatch.setattr(generate_writer, "CHUNK_ROWS", 1_000)
    flat = generate_prescriptions(2_000, tmp_path / "flat.parquet", fmt="parquet", seed=3,
                                  planted=UNPLANTED)  # fmt: skip
    planted = generate_prescriptions(2_000, tmp_path / "planted.parquet", fmt="parquet", seed=3)
    plans = generate_writer.plan_chunks(2_000, 0.005)
    want = pa.concat_tables(
        build_chunk(plan, 3, "course", load_catalog(UNPLANTED)).table for plan in plans
    )
    assert pq.read_table(flat.path).equals(want)
    assert not pq.read_table(planted.path).equals(want)


def test_pool_of_workers_and_chunking_keep_bytes_and_order(tmp_path, monkeypatch):
    # Small chunks so that three of them go through the two-process pool.
    monkeypatch.setattr(generate_writer, "CHUNK_ROWS", 10_000)
    serial = generate_prescriptions(30_000, tmp_path / "serial.csv", seed=5, workers=1)
    pooled = generate_prescriptions(30_000, tmp_path / "pooled.csv", seed=5, workers=2)
    assert serial.path.read_bytes() == pooled.path.read_bytes()
    assert serial.dirty == pooled.dirty and serial.prescribers == pooled.prescribers
    npis = [int(n) for n in read_text_table(serial.path)["npi"] if TEN_DIGITS.fullmatch(n)]
    assert npis == sorted(npis)  # ascending across chunk edges, so each prescriber is contiguous


@pytest.mark.parametrize("layout", ["course", "cms"])
def test_header_is_exact_and_detected(tmp_path, layout):
    path = tmp_path / f"{layout}.csv"
    generate_prescriptions(1_000, path, layout=layout, seed=1)
    first_line = path.read_text().splitlines()[0]
    expected = course_header() if layout == "course" else CMS_HEADER
    assert first_line == ",".join(expected)  # plain names, no quotes
    assert detect_layout(first_line.split(",")).name == layout
    assert list(read_text_table(path)) == expected


def test_valid_npis_are_ten_digit_luhn_numbers_beyond_32_bits(course):
    summary, table = course
    valid = [n for n in table["npi"] if TEN_DIGITS.fullmatch(n)]
    numbers = np.array([int(n) for n in valid], dtype=np.int64)
    assert len(valid) == ROWS - summary.dirty["invalid_npi"]
    assert set(n[0] for n in valid) <= {"1", "2"}
    assert is_valid_npi(numbers).all()
    assert (numbers > 2**31 - 1).mean() > 0.2
    assert summary.prescribers == pytest.approx(len(set(valid)), rel=0.01)


def test_npi_check_digit_matches_the_published_example():
    # CMS's worked example: base 123456789 gets check digit 3.
    assert with_check_digit(np.array([123456789, 143711840])).tolist() == [1234567893, 1437118403]


def test_claims_at_least_eleven_or_blank_at_about_two_percent(course):
    summary, table = course
    claims = table["total_claim_count"]
    blank = sum(c == "" for c in claims)
    assert all(int(c) >= 11 for c in claims if c)
    assert blank == summary.dirty["blank_claims"]
    assert 0.015 < blank / ROWS < 0.025
    known = np.array([int(c) for c in claims if c])
    assert np.percentile(known, 99) > 4 * np.median(known)  # long tail


def test_measures_are_consistent_and_suppressed_like_cms(course):
    _, table = course
    rows = list(zip(*(table[c] for c in table), strict=True))
    names = list(table)
    at = {name: i for i, name in enumerate(names)}
    for row in rows:
        claims, fills = row[at["total_claim_count"]], row[at["total_30_day_fill_count"]]
        supply, cost = row[at["total_day_supply"]], row[at["total_drug_cost"]]
        assert re.fullmatch(r"[0-9]+\.[0-9]{2}", cost)
        if claims:
            assert float(fills) >= int(claims) and int(supply) >= int(claims)
        bene = row[at["bene_count"]]
        assert bene == "" or int(bene) >= 11
        assert row[at["description_flag"]] in {"S", "T"}
        flag = row[at["ge65_suppress_flag"]]
        assert flag in {"", "*", "#"}
        if flag:
            assert row[at["total_claim_count_ge65"]] == row[at["total_drug_cost_ge65"]] == ""
        bene_flag = row[at["bene_count_ge65_suppress_flag"]]
        assert bene_flag in {"", "*", "#"}
        assert (bene_flag != "") == (row[at["bene_count_ge65"]] == "")
    flags = Counter(row[at["ge65_suppress_flag"]] for row in rows)
    assert flags["*"] > 0.05 * ROWS and flags["#"] > 0.05 * ROWS and flags[""] > 0.2 * ROWS
    day_per_claim = [
        int(row[at["total_day_supply"]]) / int(row[at["total_claim_count"]])
        for row in rows
        if row[at["total_claim_count"]]
    ]
    assert 20 < np.mean(day_per_claim) < 45
    assert max(day_per_claim) > 60  # some 90-day fills


def test_dirty_rows_match_the_summary_rate_and_spread(course):
    summary, table = course
    names = list(table)
    rows = list(zip(*(table[c] for c in names), strict=True))
    invalid = [i for i, n in enumerate(table["npi"]) if not TEN_DIGITS.fullmatch(n)]
    missing = [i for i, d in enumerate(table["drug_name"]) if d == ""]
    seen: dict[tuple, int] = {}
    duplicates = []
    for i, row in enumerate(rows):
        if row in seen:
            duplicates.append(i)
            assert i - seen[row] <= 6  # a near copy of the same prescriber's row
        else:
            seen[row] = i
    assert len(invalid) == summary.dirty["invalid_npi"]
    assert len(missing) == summary.dirty["missing_drug"]
    assert len(duplicates) == summary.dirty["duplicate_row"]
    assert len(invalid) + len(missing) + len(duplicates) == pytest.approx(0.005 * ROWS, abs=3)
    for positions in (invalid, missing, duplicates):
        assert positions and max(positions) > 2 * ROWS / 3  # not only at the top
    bad_npis = {table["npi"][i] for i in invalid}
    assert "" in bad_npis
    assert {len(n) for n in bad_npis} >= {0, 9, 10, 11}  # 10 characters: one of them a letter


def test_dirty_rate_zero_gives_a_clean_file(tmp_path):
    summary = generate_prescriptions(10_000, tmp_path / "clean.csv", dirty_rate=0.0)
    table = read_text_table(summary.path)
    assert summary.dirty["invalid_npi"] == summary.dirty["missing_drug"] == 0
    assert summary.dirty["duplicate_row"] == 0
    assert all(TEN_DIGITS.fullmatch(n) for n in table["npi"])
    assert all(table["drug_name"])


def test_quoted_commas_occur_throughout_the_file(course):
    summary, table = course
    lines = summary.path.read_text().splitlines()[1:]
    with_commas = [i for i, line in enumerate(lines) if re.search(r'"[^",]*,[^"]*"', line)]
    assert sum(i > 0.1 * ROWS for i in with_commas) > 100
    assert sum(i > 0.9 * ROWS for i in with_commas) > 10
    assert any(", " in name for name in table["nppes_provider_last_org_name"])  # e.g. SMITH, JR
    assert any("," in name for name in table["generic_name"])


def test_duckdb_reads_the_file_with_the_declared_dialect(course):
    summary, _ = course
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in course_header()) + "}"
    count, comma_cities = duckdb.sql(
        f"SELECT count(*), count(*) FILTER (WHERE nppes_provider_last_org_name LIKE '%,%') "
        f"FROM read_csv('{summary.path}', all_varchar=true, header=true, quote='\"', "
        f"escape='\"', auto_detect=false, columns={columns})"
    ).fetchone()
    assert count == ROWS
    assert comma_cities > 0


def test_about_twenty_five_rows_per_prescriber_with_a_long_tail(course):
    _, table = course
    per_npi = Counter(n for n in table["npi"] if TEN_DIGITS.fullmatch(n))
    counts = np.array(list(per_npi.values()))
    assert 21 < counts.mean() < 29
    assert counts.max() > 6 * counts.mean()
    assert counts.min() == 1


def test_prescribers_are_mostly_in_dimension_cities_with_real_spellings(course):
    _, table = course
    dim = pq.read_table(DATA / "us_cities_dimension.parquet").to_pydict()
    known = {(s, normalise(c)) for c, s in zip(dim["city"], dim["state_id"], strict=True)}
    known |= {(s, normalise(c)) for c, s in zip(dim["city_ascii"], dim["state_id"], strict=True)}
    located = zip(table["nppes_provider_city"], table["nppes_provider_state"], strict=True)
    places = dict(zip(table["npi"], located, strict=True))  # one place per prescriber
    matched = [(state, normalise(city)) in known for city, state in places.values()]
    assert 0.9 < np.mean(matched) < 0.995  # about 3% live in places the dimension lacks
    cities = [city for city, _ in places.values()]
    assert np.mean([c == c.upper() for c in cities]) > 0.9
    assert any(c != c.strip() for c in cities) and any("  " in c for c in cities)
    assert any(c.islower() for c in cities)


def test_years_of_experience_is_constant_text_per_prescriber(course):
    _, table = course
    years = table["years_of_exp"]
    assert all(re.fullmatch(r"= [0-9]+\.0", text) for text in years)
    per_npi: dict[str, set[str]] = {}
    for npi, text in zip(table["npi"], years, strict=True):
        per_npi.setdefault(npi, set()).add(text)
    assert all(len(v) == 1 for n, v in per_npi.items() if TEN_DIGITS.fullmatch(n))
    values = np.array([int(text[2:-2]) for text in years])
    assert values.min() >= 1 and values.max() <= 60
    assert 0.3 < np.mean((values >= 20) & (values <= 50)) < 0.8


def test_parquet_holds_the_same_rows_as_the_csv(tmp_path):
    csv_file = generate_prescriptions(20_000, tmp_path / "f.csv", layout="cms", seed=9)
    parquet_file = generate_prescriptions(
        20_000, tmp_path / "f.parquet", layout="cms", fmt="parquet", seed=9
    )
    typed = pq.read_table(parquet_file.path)
    assert typed.column_names == CMS_HEADER
    as_text = {
        name: pc.fill_null(pc.cast(typed[name], pa.string()), "").to_pylist()
        for name in typed.column_names
    }
    assert as_text == read_text_table(csv_file.path)
    assert parquet_file.dirty == csv_file.dirty


def test_gzip_output_is_a_readable_csv(tmp_path):
    summary = generate_prescriptions(5_000, tmp_path / "f.csv.gz", seed=2)
    with gzip.open(summary.path, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == course_header()
    assert len(rows) == 5_001


def test_progress_reports_every_row_once(tmp_path, monkeypatch):
    monkeypatch.setattr(generate_writer, "CHUNK_ROWS", 4_000)
    seen: list[int] = []
    generate_prescriptions(10_000, tmp_path / "f.csv", on_progress=seen.append)
    assert seen == [4_000, 4_000, 2_000]


def test_a_failure_leaves_no_file_behind(tmp_path):
    def fail(_: int) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        generate_prescriptions(1_000, tmp_path / "f.csv", on_progress=fail)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rows": 0}, "rows"),  # no rows
        ({"rows": -5}, "rows"),  # negative
        ({"layout": "spark"}, "layout"),  # unknown layout
        ({"fmt": "json"}, "format"),  # unknown format
        ({"dirty_rate": -0.1}, "dirty_rate"),  # below 0
        ({"dirty_rate": 0.6}, "dirty_rate"),  # above 0.5
        ({"seed": -1}, "seed"),  # NumPy seeds are non-negative
    ],
)
def test_bad_arguments_raise_value_error(tmp_path, arguments, message):
    call = {"rows": 100, "out": tmp_path / "f.csv", **arguments}
    with pytest.raises(ValueError, match=message):
        generate_prescriptions(**call)
    assert list(tmp_path.iterdir()) == []


def test_bundled_drug_catalog_is_large_and_priced_sensibly():
    with (DATA / "drugs.csv").open(newline="") as handle:
        drugs = list(csv.DictReader(handle))
    assert len(drugs) >= 200
    assert len({d["brand_name"] for d in drugs}) == len(drugs)
    generic = [float(d["cost_per_day"]) for d in drugs if d["brand_name"] == d["generic_name"]]
    assert np.median(generic) < 1.0
    assert {"ELIQUIS", "LISINOPRIL", "JARDIANCE", "ATORVASTATIN CALCIUM"} <= {
        d["brand_name"] for d in drugs
    }


def test_cli_writes_the_file_and_refuses_bad_arguments(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "g.csv"
    command = [sys.executable, "-m", "healthanalytics", "generate", "--rows", "2000",
               "--out", str(out), "--seed", "3"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    again = generate_prescriptions(2000, tmp_path / "again.csv", seed=3).path
    assert out.read_bytes() == again.read_bytes()
    bad = subprocess.run([*command, "--layout", "nope"], capture_output=True, text=True)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert [line for line in bad.stderr.splitlines() if line.strip()] == [
        "error: unknown layout 'nope'; choose one of course, cms"
    ]
