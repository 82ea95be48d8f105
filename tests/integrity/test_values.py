"""Values the cleaning rules must read right: numbers as spreadsheets write them, numbers no
column can hold, typed (Parquet) columns, control characters in names, and lines that repeat a
prescriber's drug. Each case runs the real pipeline on every engine (and, where the warehouse
matters, every warehouse) and checks the whole outcome against tests/reference.py."""

from __future__ import annotations

import csv
import decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import reference
from tests.integrity.conftest import CITIES, SAMPLE

PRESC_COLUMNS = ["presc_id", "presc_state", "years_of_exp", "trx_cnt", "rank"]
CITY_COLUMNS = ["city", "state_name", "county_name", "population", "zip_counts", "trx_counts",
                "presc_counts", "state_id"]  # fmt: skip
NUMBER_COLUMNS = ["raw_npi", "raw_claims", "raw_day_supply", "raw_drug_cost", "raw_bene_count"]


def sample() -> tuple[list[str], list[list[str]]]:
    """The bundled real excerpt's header and lines (105 lines, text as in the file)."""
    with SAMPLE.open(newline="") as handle:
        header, *lines = csv.reader(handle)
    return header, lines


def write_csv(path: Path, header: list[str], lines: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows([header, *lines])
    return path


def edit(header: list[str], line: list[str], **values: str) -> None:
    for column, value in values.items():
        line[header.index(column)] = value


def picked(rows: list[dict], columns: list[str]) -> list[tuple]:
    return sorted((tuple(row[c] for c in columns) for row in rows), key=repr)


def assert_reports_match_reference(outcome, fact: Path) -> None:
    """The city and prescriber reports, whole, as the independent implementation has them."""
    kept, counts = reference.clean(fact)
    assert picked(outcome.rows("prescriber_report"), PRESC_COLUMNS) == picked(
        reference.prescriber_report(kept), PRESC_COLUMNS
    )
    assert picked(outcome.rows("city_report"), CITY_COLUMNS) == picked(
        reference.city_report(kept, CITIES), CITY_COLUMNS
    )
    (run,) = outcome.rows("pipeline_runs", date=None)
    assert {reason: run[f"quarantined_{reason}"] for reason in counts} == counts
    assert run["rows_kept"] == len(kept)
    assert run["repeated_drug_lines"] == reference.repeated_drug_lines(kept)


def test_numbers_as_spreadsheets_write_them_and_numbers_no_column_holds(run, engine_name, tmp_path):
    header, lines = sample()
    edit(header, lines[17], total_claim_count="1,234")  # Excel's thousands separator: 1234
    edit(header, lines[32], total_drug_cost="12,345.67", total_day_supply=" 37465 ")
    edit(header, lines[79], total_claim_count="1,000,000,000")  # the largest count
    edit(header, lines[55], total_claim_count="1,23")  # not groups of three
    edit(header, lines[76], total_claim_count="1e308")  # aborted the run with a cast error
    edit(header, lines[98], bene_count="12345678901234567890")  # a 20-digit count
    edit(header, lines[3], total_drug_cost="NaN")
    edit(header, lines[2], total_day_supply="inf")
    edit(header, lines[4], total_claim_count="-3")
    fact = write_csv(tmp_path / "numbers.csv", header, lines)

    outcome = run(fact, engine=engine_name)

    assert outcome.error is None
    (record,) = outcome.rows("pipeline_runs", date=None)
    assert (record["rows_read"], record["rows_kept"], record["quarantined_invalid_number"]) == (
        105,
        96,
        6,
    )
    held = [row for row in outcome.rows("quarantine") if row["reason"] == "invalid_number"]
    assert picked(held, NUMBER_COLUMNS) == [
        ("1497789556", "-3", "1230", "1221.21", None),
        ("1770522567", "24", "960", "NaN", None),
        ("1841297421", "40", "inf", "623.64", "19"),
        ("1881698124", "1e308", "2430", "1182.96", None),
        ("1902075922", "1,23", "9131", "106279.37", "62"),
        ("1962701417", "35", "1100", "359.42", "12345678901234567890"),
    ]
    top = {row["presc_id"]: row["trx_cnt"] for row in outcome.rows("prescriber_report")}
    assert top[1508831496] == 1234
    # the other line of that prescriber has no count: it takes the mean, 1e9, and the sum holds
    assert top[1609832930] == 2_000_000_000
    assert_reports_match_reference(outcome, fact)


def test_counts_below_zero_and_experience_no_column_holds(run, engine_name, tmp_path):
    header, lines = sample()
    edit(header, lines[4], total_claim_count="-0.4")  # below zero, though it rounds to 0
    edit(header, lines[17], total_claim_count="-0")  # zero: the count 0
    edit(header, lines[32], total_claim_count="0.4")  # rounds to the count 0
    edit(header, lines[5], year_exp="= 12345678901234567890.0")  # was read as a null experience
    edit(header, lines[13], year_exp="= 1000000000.0")  # ten digits: no number of years
    edit(header, lines[25], year_exp="= 0000000000020.0")  # leading zeros aside: 20 years
    fact = write_csv(tmp_path / "bounds.csv", header, lines)

    outcome = run(fact, engine=engine_name)

    assert outcome.error is None
    (record,) = outcome.rows("pipeline_runs", date=None)
    assert (record["rows_read"], record["rows_kept"], record["quarantined_invalid_number"]) == (
        105,
        99,
        3,
    )
    held = [row for row in outcome.rows("quarantine") if row["reason"] == "invalid_number"]
    assert picked(held, ["raw_npi", "raw_claims", "raw_years_of_exp"]) == [
        ("1093078644", "22", "= 1000000000.0"),
        ("1417913278", "12", "= 12345678901234567890.0"),
        ("1497789556", "-0.4", "= 12.0"),
    ]
    top = {row["presc_id"]: row for row in outcome.rows("prescriber_report")}
    assert (top[1508831496]["trx_cnt"], top[1033436191]["trx_cnt"]) == (0, 0)
    assert (top[1720020845]["years_of_exp"], top[1720020845]["trx_cnt"]) == (20, 23)
    assert_reports_match_reference(outcome, fact)


def test_typed_experience_no_column_holds(run, engine_name, tmp_path):
    header, lines = sample()
    years = [int(float(line[header.index("year_exp")].strip("= "))) for line in lines]
    years[5], years[13] = 2**63 - 1, 10**9  # int64's largest (nineteen digits), ten digits
    floats = [float(y) for y in years]
    floats[5], floats[13] = 1e20, float("inf")  # written `1e20`, whose first digit is no year
    columns = {name: [line[i] or None for line in lines] for i, name in enumerate(header)}
    held = {}
    for name, values in (("int64", pa.array(years, pa.int64())), ("float64", floats)):
        table = pa.table({**columns, "year_exp": values})
        pq.write_table(table, tmp_path / f"{name}.parquet")
        outcome = run(tmp_path / f"{name}.parquet", engine=engine_name,
                      db=str(tmp_path / f"{name}.duckdb"))  # fmt: skip
        assert outcome.error is None, name
        (record,) = outcome.rows("pipeline_runs", date=None)
        assert (record["rows_kept"], record["quarantined_invalid_number"]) == (100, 2), name
        quarantined = [r for r in outcome.rows("quarantine") if r["reason"] == "invalid_number"]
        held[name] = picked(quarantined, ["raw_npi", "raw_years_of_exp"])
    assert held == {
        "int64": [("1093078644", "1000000000"), ("1417913278", "9223372036854775807")],
        "float64": [("1093078644", "Infinity"), ("1417913278", "1e20")],
    }


def typed_sample(tmp_path: Path, variant: str) -> tuple[Path, Path]:
    """The sample as a Parquet file with typed columns, and the same lines as CSV text."""
    header, lines = sample()
    text = {name: [line[i] or None for line in lines] for i, name in enumerate(header)}
    npis = [int(npi) for npi in text["npi"]]
    claims = [None if c is None else int(c) for c in text["total_claim_count"]]
    supply, costs = text["total_day_supply"], text["total_drug_cost"]
    if variant == "pandas":
        # a column with nulls, as pandas writes it: float64; and a fraction, which is no NPI
        floats = [None, *map(float, npis[1:10]), npis[10] + 0.5, *map(float, npis[11:])]
        text["npi"] = [None, *text["npi"][1:10], f"{npis[10]}.5", *text["npi"][11:]]
        typed = {
            "npi": pa.array(floats, pa.float64()),
            "total_claim_count": pa.array(claims, pa.int32()),
            "total_day_supply": pa.array([float(s) for s in supply], pa.float64()),
            "total_drug_cost": pa.array([decimal.Decimal(c) for c in costs], pa.decimal128(12, 2)),
        }
    else:
        # a count written as a float, and a half that rounds up
        claims[17] += 0.5
        text["total_claim_count"][17] = str(claims[17])
        typed = {
            "npi": pa.array(npis, pa.int64()),
            "total_claim_count": pa.array(claims, pa.float64()),
            "total_day_supply": pa.array([int(s) for s in supply], pa.int32()),
            "total_drug_cost": pa.array([float(c) for c in costs], pa.float64()),
        }
    parquet = tmp_path / f"{variant}.parquet"
    pq.write_table(
        pa.table({name: typed.get(name, pa.array(text[name], pa.string())) for name in header}),
        parquet,
    )
    rows = [[text[name][i] or "" for name in header] for i in range(len(lines))]
    return parquet, write_csv(tmp_path / f"{variant}.csv", header, rows)


@pytest.mark.parametrize("variant", ["pandas", "typed"])
def test_typed_parquet_columns_are_read_by_value(run, engine_name, tmp_path, variant):
    parquet, same_as_text = typed_sample(tmp_path, variant)

    typed = run(parquet, engine=engine_name, db=str(tmp_path / "typed.duckdb"))
    text = run(same_as_text, engine=engine_name, db=str(tmp_path / "text.duckdb"))

    assert typed.error is None and text.error is None
    (record,) = typed.rows("pipeline_runs", date=None)
    # a float64 NPI column kept 0 lines: 1234567893.0 became the text "1234567893.0"
    invalid_npis = 2 if variant == "pandas" else 0
    kept = 102 - invalid_npis
    assert (record["rows_kept"], record["quarantined_invalid_npi"]) == (kept, invalid_npis)
    for name in ("city_report", "prescriber_report"):
        assert typed.rows(name) == text.rows(name), name
    assert picked(typed.rows("quarantine"), ["reason", "raw_npi", "raw_claims"]) == picked(
        text.rows("quarantine"), ["reason", "raw_npi", "raw_claims"]
    )
    assert_reports_match_reference(typed, same_as_text)


@pytest.mark.parametrize("float_type", [pa.float32(), pa.float16()])
def test_npi_written_as_a_short_float_is_refused(run, tmp_path, float_type):
    # float32 keeps 7 digits: 1093078644 is stored as 1093078656, which a reader by value
    # would take for another prescriber; refused before any engine reads it
    parquet, _ = typed_sample(tmp_path, "typed")
    table = pq.read_table(parquet)
    parts = tmp_path / "parts"
    parts.mkdir()
    pq.write_table(table.slice(0, 50), parts / "part-0.parquet")
    rounded = table.slice(50).set_column(
        0, "npi", table["npi"].slice(50).cast(float_type, safe=False)
    )
    pq.write_table(rounded, parts / "part-1.parquet")
    outcome = run(parts)
    assert outcome.error == (
        f"{parts / 'part-1.parquet'}: its NPI column 'npi' is {float_type} (a "
        f"{float_type.bit_width}-bit float), which cannot hold a 10-digit NPI exactly, so the "
        "NPIs were rounded when it was written; write the NPI as an integer or text column."
    )
    assert all(outcome.tables[name].num_rows == 0 for name in ("city_report", "quarantine"))


@pytest.mark.parametrize(
    ("inside", "full_name"),
    [("", "ARNALDO REYES ORTIZ"), ("\r\n", "ARNALDO REYES ORTIZ"), ('"', 'ARNALDO REYES ORTIZ "')],
    ids=["nul-tab-esc", "line-break", "doubled-quote"],
)
def test_control_characters_in_names_follow_one_rule_on_every_target(
    run, engine_name, warehouse_url, tmp_path, inside, full_name
):
    header, lines = sample()
    # a NUL, a tab, an ESC inside a quoted last name; a tab inside a city. A line break (Spark
    # reads the file whole) or a doubled quote in the value once made Spark's parser drop the NUL
    last_name = "REYES\x00ORTIZ\t" + inside + "\x1b"
    edit(header, lines[17], nppes_provider_last_org_name=last_name)
    edit(header, lines[32], nppes_provider_city="MUSCLE\tSHOALS")
    held = list(lines[98])
    edit(header, held, npi="123", nppes_provider_last_org_name="PAD\x00DOCK\x7f")
    fact = write_csv(tmp_path / "controls.csv", header, [*lines, held])

    outcome = run(fact, engine=engine_name, db=warehouse_url)

    assert outcome.error is None
    top = {row["presc_id"]: row for row in outcome.rows("prescriber_report")}
    assert top[1508831496]["presc_fullname"] == full_name
    assert top[1033436191]["presc_fullname"] == "ROY BARCO"
    (quarantined,) = [row for row in outcome.rows("quarantine") if row["reason"] == "invalid_npi"]
    assert {k: v for k, v in quarantined.items() if k != "delivery_date"} == {
        "reason": "invalid_npi",
        "raw_npi": "123",
        "raw_last_name": "PAD DOCK ",
        "raw_first_name": "MADISON",
        "raw_city": "WASHINGTON",
        "raw_state": "DC",
        "raw_specialty": "Internal Medicine",
        "raw_brand_name": "ACYCLOVIR",
        "raw_generic_name": "ACYCLOVIR",
        "raw_claims": "35",
        "raw_day_supply": "1100",
        "raw_drug_cost": "359.42",
        "raw_bene_count": "11",
        "raw_years_of_exp": "= 22.0",
    }
    assert_reports_match_reference(outcome, fact)


def test_kept_lines_repeating_a_prescribers_drug_are_counted_and_summed(run, engine_name, tmp_path):
    header, lines = sample()
    again = list(lines[17])  # the same prescriber and drug, another claim count
    edit(header, again, total_claim_count="49")
    copy = list(lines[32])  # an exact copy: quarantined, not counted
    fact = write_csv(tmp_path / "repeats.csv", header, [*lines, again, copy])

    outcome = run(fact, engine=engine_name)

    assert outcome.error is None
    (record,) = outcome.rows("pipeline_runs", date=None)
    # the sample itself has 11 such lines (QUINN's two METHENAMINE lines, one without claims)
    assert (record["repeated_drug_lines"], record["quarantined_duplicate_row"]) == (13, 1)
    top = {row["presc_id"]: row["trx_cnt"] for row in outcome.rows("prescriber_report")}
    assert top[1508831496] == 51 + 49
    assert_reports_match_reference(outcome, fact)
