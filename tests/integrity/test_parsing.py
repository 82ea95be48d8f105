"""How each engine parses a CSV fact: a malformed line stops the run naming the file and line
(whatever its extra fields hold), encodings, quoted line breaks and line endings read alike."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.integrity.conftest import RUN_DATE, SAMPLE, Outcome, run_case

DELIVERY = ("city_report", "prescriber_report", "quarantine")
LINES = SAMPLE.read_text().splitlines()  # the header and 105 rows
HEADER = LINES[0].split(",")
FIX = "fix or remove that row"
NOT_UTF8 = (
    "pass --encoding latin-1 or --encoding cp1252 if the file is written so, or save it as UTF-8"
)
_baselines: dict[str, Outcome] = {}


def sample_row(line: int = 4, **values: str) -> list[str]:
    """The fields of SAMPLE's line `line` (SIFUENTES, JORGE by default), some replaced."""
    fields = LINES[line - 1].split(",")  # lines 4 and 7 hold no quoted comma
    assert len(fields) == len(HEADER)
    for name, value in values.items():
        fields[HEADER.index(name)] = value
    return fields


def write_fact(
    path: Path, lines: list[str], *, newline: str = "\n", encoding: str = "utf-8"
) -> Path:
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def with_line(text: str, at: int = 51) -> list[str]:
    """SAMPLE's lines with `text` as line `at` of the file (the header is line 1)."""
    return [*LINES[: at - 1], text, *LINES[at - 1 :]]


def delivered(outcome: Outcome) -> dict[str, list[dict]]:
    return {name: outcome.rows(name) for name in DELIVERY}


def baseline(engine: str, tmp_path_factory) -> Outcome:
    """SAMPLE's delivery on the engine, run once per session."""
    if engine not in _baselines:
        folder = tmp_path_factory.mktemp(f"baseline-{engine}")
        _baselines[engine] = run_case(
            SAMPLE, output=folder / "out", db=str(folder / "w.duckdb"), engine=engine,
            analysis=False,
        )
    assert _baselines[engine].error is None
    return _baselines[engine]


def refused(run, engine: str, fact: Path, **settings) -> str:
    """The run's one-line error, after checking the delivery before it was left as it was.
    That earlier delivery is made on DuckDB whatever the engine: the warehouse is the same, and
    a Spark run costs seconds."""
    good = run(SAMPLE, engine="duckdb", **{k: v for k, v in settings.items() if k == "db"})
    assert good.error is None
    bad = run(fact, engine=engine, **settings)
    assert bad.error is not None
    assert delivered(bad) == delivered(good)
    return bad.error


# --- item 2: a line with more or fewer fields than the header --------------------------------

SMITH_JR = ",".join(sample_row(nppes_provider_last_org_name="SMITH, JR", year_exp=""))


@pytest.mark.parametrize(
    ("line", "found"),
    [
        # an unquoted comma in a name, the last column blank: the extra field is empty
        (SMITH_JR, 23),
        # the same with more blank fields after it
        (SMITH_JR + ",,", 25),
        # an extra field holding a value
        (",".join(sample_row()) + ",X", 23),
        # an extra field that is a quoted empty value
        (",".join(sample_row()) + ',""', 23),
        # one field too few
        (",".join(sample_row()[:-1]), 21),
        # a line of three fields
        ("1234567893,ONLY,THREE", 3),
        # two blank values are no blank-only line, the second empty (Spark reads it as null)
        ("  ,", 2),
        ('"  ",""', 2),
        # nor is a no-break space, beyond U+0020
        ("\u00a0", 1),
    ],
    ids=["empty-extra", "empty-extras", "extra-value", "quoted-empty-extra", "one-short", "three",
         "two-blank-values", "two-quoted-blank-values", "no-break-space"],
)  # fmt: skip
def test_line_with_wrong_field_count_stops_the_run(run, engine_name, tmp_path, line, found):
    fact = write_fact(tmp_path / "fact.csv", with_line(line))
    assert refused(run, engine_name, fact) == (
        f"{fact}: line 51: expected 22 columns, found {found} ({line[:120]}); {FIX}"
    )


def test_refusal_leaves_the_delivery_on_every_warehouse(run, engine_name, warehouse_url, tmp_path):
    fact = write_fact(tmp_path / "fact.csv", with_line(SMITH_JR))
    assert refused(run, engine_name, fact, db=warehouse_url) == (
        f"{fact}: line 51: expected 22 columns, found 23 ({SMITH_JR[:120]}); {FIX}"
    )


def test_first_malformed_line_of_the_file_is_named(run, engine_name, tmp_path):
    lines = with_line(SMITH_JR, at=30)
    lines.insert(89, "1234567893,ONLY,THREE")  # line 90, after the first
    fact = write_fact(tmp_path / "fact.csv", lines)
    assert refused(run, engine_name, fact) == (
        f"{fact}: line 30: expected 22 columns, found 23 ({SMITH_JR[:120]}); {FIX}"
    )


def test_malformed_line_of_a_compressed_part_is_named(run, engine_name, tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    # a line in the second part: its own name and its own line number
    (parts / "part-0.csv.gz").write_bytes(gzip.compress(("\n".join(LINES[:60]) + "\n").encode()))
    second = [LINES[0], *LINES[60:70], SMITH_JR, *LINES[70:]]
    (parts / "part-1.csv.gz").write_bytes(gzip.compress(("\n".join(second) + "\n").encode()))
    assert refused(run, engine_name, parts) == (
        f"{parts / 'part-1.csv.gz'}: line 12: expected 22 columns, found 23 ({SMITH_JR[:120]}); "
        f"{FIX}"
    )


def test_quote_followed_by_text_stops_the_run(run, engine_name, tmp_path):
    line = ",".join(sample_row(nppes_provider_first_name='"JORGE"X'))
    fact = write_fact(tmp_path / "fact.csv", with_line(line))
    assert refused(run, engine_name, fact) == (
        f"{fact}: line 51: text follows a closing quote ({line[:120]}); {FIX}"
    )


def test_quote_never_closed_stops_the_run(run, engine_name, tmp_path):
    line = ",".join(sample_row(nppes_provider_first_name='"JORGE'))
    fact = write_fact(tmp_path / "fact.csv", with_line(line))
    assert refused(run, engine_name, fact) == (
        f"{fact}: line 51: a quoted value is never closed ({line[:120]}); {FIX}"
    )


# --- item 8: encodings and quoted line breaks, alike on both engines --------------------------

ACCENTED = with_line(",".join(sample_row(nppes_provider_last_org_name="QUIÑÓNEZ")))


def test_latin1_file_without_encoding_names_line_and_encoding(run, engine_name, tmp_path):
    fact = write_fact(tmp_path / "fact.csv", ACCENTED, encoding="latin-1")
    shown = ",".join(sample_row(nppes_provider_last_org_name="QUI\ufffd\ufffdNEZ"))
    assert refused(run, engine_name, fact) == (
        f"{fact}: line 51: byte 0xd1 is not UTF-8 text ({shown[:120]}); {NOT_UTF8}"
    )


@pytest.mark.parametrize(
    ("encoding", "name"),
    [
        ("latin-1", "QUIÑÓNEZ"),
        # cp1252's own characters (U+2019 is 0x92), as Excel on Windows writes them
        ("cp1252", "O\u2019BRIEN-ÉTÉ"),
    ],
)
def test_declared_encoding_reads_as_the_utf8_file(run, engine_name, tmp_path, encoding, name):
    # a new prescriber with the most claims in NY, 25 years of experience: ranked first
    changes = {"npi": "1234567893", "nppes_provider_last_org_name": name}
    lines = with_line(",".join(sample_row(7, total_claim_count="99999", **changes)))
    utf8 = run(write_fact(tmp_path / "utf8.csv", lines), engine=engine_name)
    assert utf8.error is None
    assert any(name in row["presc_fullname"] for row in utf8.rows("prescriber_report"))
    fact = write_fact(tmp_path / f"{encoding}.csv", lines, encoding=encoding)
    declared = run(fact, engine=engine_name, encoding=encoding)
    assert declared.error is None
    assert delivered(declared) == delivered(utf8)


def test_latin1_reads_every_byte(run, engine_name, tmp_path, tmp_path_factory):
    # 0x92 is a C1 control character in Latin-1 (DuckDB's own Latin-1 refuses it); in a column
    # no report shows, so the delivery is SAMPLE's
    lines = [*LINES]
    lines[3] = ",".join(sample_row(specialty_description="General\x92Practice"))
    outcome = run(write_fact(tmp_path / "fact.csv", lines, encoding="latin-1"),
                  engine=engine_name, encoding="latin-1")  # fmt: skip
    assert outcome.error is None
    assert delivered(outcome) == delivered(baseline(engine_name, tmp_path_factory))


def test_byte_cp1252_leaves_undefined_is_refused(run, engine_name, tmp_path):
    fact = tmp_path / "fact.csv"
    line = ",".join(sample_row(nppes_provider_last_org_name="O\x81BRIEN"))
    fact.write_bytes("\n".join(with_line(line)).encode("latin-1") + b"\n")
    shown = line.replace("\x81", "\ufffd")
    assert refused(run, engine_name, fact, encoding="cp1252") == (
        f"{fact}: line 51: byte 0x81 is not cp1252 text ({shown[:120]}); "
        "pass the --encoding the file is written in, or save it as UTF-8"
    )


def test_replacement_character_written_as_text_is_read(run, engine_name, tmp_path):
    # U+FFFD is text in a UTF-8 file: Spark's check for undecodable bytes must let it through
    line = ",".join(sample_row(npi="12345", nppes_provider_last_org_name="QUI\ufffdN"))
    outcome = run(write_fact(tmp_path / "fact.csv", with_line(line)), engine=engine_name)
    assert outcome.error is None
    assert [r for r in outcome.rows("quarantine") if r["raw_npi"] == "12345"] == [quarantined(line)]


def quarantined(line: str) -> dict:
    """The quarantine row of a line of SAMPLE's layout held back as invalid_npi."""
    fields = dict(zip(HEADER, line.split(","), strict=True))
    raw = {
        "npi": "npi", "last_name": "nppes_provider_last_org_name",
        "first_name": "nppes_provider_first_name", "city": "nppes_provider_city",
        "state": "nppes_provider_state", "specialty": "specialty_description",
        "brand_name": "drug_name", "generic_name": "generic_name",
        "claims": "total_claim_count", "day_supply": "total_day_supply",
        "drug_cost": "total_drug_cost", "bene_count": "bene_count", "years_of_exp": "year_exp",
    }  # fmt: skip
    row = {"reason": "invalid_npi"}
    row |= {f"raw_{name}": fields[column].strip('"') or None for name, column in raw.items()}
    return row | {"delivery_date": RUN_DATE}


def test_quoted_line_break_is_read_on_both_engines(run, engine_name, tmp_path, tmp_path_factory):
    # a city name with a line break in it, on a line held back (invalid NPI) so that the
    # value shows whole in the quarantine table: read as one value, its line break stored as a
    # space (RULES: control characters)
    line = ",".join(sample_row(npi="12345", nppes_provider_city='"FORT\nATKINSON"'))
    outcome = run(write_fact(tmp_path / "fact.csv", with_line(line)), engine=engine_name)
    assert outcome.error is None
    expected = delivered(baseline(engine_name, tmp_path_factory))
    expected["quarantine"] = sorted(
        [*expected["quarantine"], quarantined(line) | {"raw_city": "FORT ATKINSON"}], key=repr
    )
    assert delivered(outcome) == expected


@pytest.mark.parametrize("at", [51, 107], ids=["more-lines-follow", "last-line"])
def test_quote_never_closed_in_last_field_stops_the_run(run, engine_name, tmp_path, at):
    # the quote opens the line's last field: read by line, the line alone would look whole
    line = ",".join(sample_row()[:-1]) + ',"12'
    fact = write_fact(tmp_path / "fact.csv", with_line(line, at))
    assert refused(run, engine_name, fact) == (
        f"{fact}: line {at}: a quoted value is never closed ({line[:120]}); {FIX}"
    )


def test_quote_never_closed_in_a_gzip_file_stops_the_run(run, engine_name, tmp_path):
    # a compressed file is read whole on Spark, where the open quote would swallow every
    # line after it into one value: the driver's quote count finds it on both engines
    line = ",".join(sample_row()[:-1]) + ',"12'
    fact = tmp_path / "fact.csv.gz"
    fact.write_bytes(gzip.compress(("\n".join(with_line(line)) + "\n").encode()))
    assert refused(run, engine_name, fact) == (
        f"{fact}: line 51: a quoted value is never closed ({line[:120]}); {FIX}"
    )


def test_quoted_line_break_whose_halves_look_like_lines_is_one_value(
    run, engine_name, tmp_path, tmp_path_factory
):
    # the last value holds a line break then a whole line of SAMPLE: each half alone has 22
    # fields; read as one value (held back: invalid NPI), not as two lines. Inside the quotes,
    # the line's `""` (empty values) are doubled quotes
    second = ",".join(sample_row(7))
    first = ",".join(sample_row(npi="12345"))
    line = first[: first.rindex(",")] + f',"2\n{second}"'
    outcome = run(write_fact(tmp_path / "fact.csv", with_line(line)), engine=engine_name)
    assert outcome.error is None
    expected = delivered(baseline(engine_name, tmp_path_factory))
    held = quarantined(first) | {"raw_years_of_exp": "2 " + second.replace('""', '"')}
    expected["quarantine"] = sorted([*expected["quarantine"], held], key=repr)
    assert delivered(outcome) == expected


FORT = ",".join(sample_row(npi="12345", nppes_provider_city='"FORT{}ATKINSON"'))
CRLF_AT = (2, 4, 60)  # a quarantined line (duplicate), kept lines


def some_crlf(lines: list[str]) -> bytes:
    """The lines ended by LF, those numbered in CRLF_AT by CRLF."""
    return b"".join(
        line.encode() + (b"\r\n" if number in CRLF_AT else b"\n")
        for number, line in enumerate(lines, start=1)
    )


@pytest.mark.parametrize(
    ("name", "content", "city"),
    [
        # an LF file with a few CRLF lines (the last value unquoted) and a quoted line break
        ("fact.csv", some_crlf(with_line(FORT.format("\n"))), "FORT ATKINSON"),
        # the same, gzip-compressed
        ("fact.csv.gz", gzip.compress(some_crlf(with_line(FORT.format("\n")))), "FORT ATKINSON"),
        # a CRLF file whose quoted value holds a CRLF: two control characters, two spaces
        ("fact.csv", ("\r\n".join(with_line(FORT.format("\r\n"))) + "\r\n").encode(),
         "FORT  ATKINSON"),
        # a CR file whose quoted value holds a CRLF
        ("fact.csv", ("\r".join(with_line(FORT.format("\r\n"))) + "\r").encode(),
         "FORT  ATKINSON"),
        # an LF file whose quoted value holds a CRLF
        ("fact.csv", ("\n".join(with_line(FORT.format("\r\n"))) + "\n").encode(),
         "FORT  ATKINSON"),
    ],
    ids=["lf-some-crlf", "lf-some-crlf-gzip", "crlf-crlf-inside", "cr-crlf-inside",
         "lf-crlf-inside"],
)  # fmt: skip
def test_quoted_line_break_with_any_line_endings_reads_alike(
    run, engine_name, tmp_path, tmp_path_factory, name, content, city
):
    (tmp_path / name).write_bytes(content)
    outcome = run(tmp_path / name, engine=engine_name)
    assert outcome.error is None
    expected = delivered(baseline(engine_name, tmp_path_factory))
    held = quarantined(FORT.format(" ")) | {"raw_city": city}
    expected["quarantine"] = sorted([*expected["quarantine"], held], key=repr)
    assert delivered(outcome) == expected


# --- item 13: line endings -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        # an LF file with a few CRLF lines (one of them a held-back line)
        some_crlf(LINES),
        # an LF file with one line ended by a lone CR
        "\n".join(LINES[:40]).encode() + b"\r" + "\n".join(LINES[40:]).encode() + b"\n",
        # CRLF throughout
        "\r\n".join(LINES).encode() + b"\r\n",
        # CRLF throughout, no line break after the last line
        "\r\n".join(LINES).encode(),
        # LF, no line break after the last line
        "\n".join(LINES).encode(),
        # CR throughout (classic Mac, Excel's "CSV (Macintosh)")
        "\r".join(LINES).encode() + b"\r",
        # CR throughout, gzip-compressed
        gzip.compress("\r".join(LINES).encode() + b"\r"),
        # an LF file with one line ended by a lone CR, gzip-compressed (Spark reads it whole
        # first, which ends lines only as the header does, then by line)
        gzip.compress("\n".join(LINES[:40]).encode() + b"\r" + "\n".join(LINES[40:]).encode()),
        # only the header ended by a lone CR
        LINES[0].encode() + b"\r" + "\n".join(LINES[1:]).encode() + b"\n",
    ],
    ids=[
        "lf-some-crlf",
        "lf-one-cr",
        "crlf",
        "crlf-unterminated",
        "lf-unterminated",
        "cr",
        "cr-gzip",
        "lf-one-cr-gzip",
        "header-cr",
    ],
)
def test_line_endings_read_as_lf(run, engine_name, tmp_path, tmp_path_factory, content):
    fact = tmp_path / ("fact.csv.gz" if content.startswith(b"\x1f\x8b") else "fact.csv")
    fact.write_bytes(content)
    outcome = run(fact, engine=engine_name)
    assert outcome.error is None
    assert delivered(outcome) == delivered(baseline(engine_name, tmp_path_factory))


# --- lines of one blank value: skipped like blank lines ------------------------------------

QUOTED_BREAK = ",".join(sample_row(npi="12345", nppes_provider_city='"FORT\nATKINSON"'))


@pytest.mark.parametrize(
    "lines",
    [
        with_line("   "),  # spaces (DuckDB refused it, Spark dropped it unseen)
        with_line("\t"),  # a tab
        with_line(" \x0b\x01 "),  # other characters up to U+0020, as Java's trim drops them
        with_line('"  "'),  # one quoted blank value (Spark's line reader parsed and refused it)
        [*LINES, "  \t"],  # at the very end of the file
        # in a file Spark reads whole, past a quoted line break (Spark refused it there)
        [*with_line(QUOTED_BREAK, at=30), "   "],
    ],
    ids=["spaces", "tab", "controls", "quoted", "at-the-end", "file-read-whole"],
)
def test_line_of_one_blank_value_is_skipped(run, engine_name, tmp_path, tmp_path_factory, lines):
    outcome = run(write_fact(tmp_path / "fact.csv", lines), engine=engine_name)
    assert outcome.error is None
    expected = delivered(baseline(engine_name, tmp_path_factory))
    if QUOTED_BREAK in lines:  # that line is held back (invalid NPI)
        expected["quarantine"] = sorted(
            [*expected["quarantine"], quarantined(QUOTED_BREAK) | {"raw_city": "FORT ATKINSON"}],
            key=repr,
        )
    assert delivered(outcome) == expected
    (record,) = outcome.rows("pipeline_runs", date=None)
    assert record["rows_read"] == 105 + (QUOTED_BREAK in lines)


def test_malformed_line_after_a_blank_only_line_keeps_its_number(run, engine_name, tmp_path):
    # the blank-only line 20 is skipped, yet counted: the bad line is named as an editor has it
    lines = with_line(SMITH_JR)
    lines.insert(19, "\t ")
    fact = write_fact(tmp_path / "fact.csv", lines)
    assert refused(run, engine_name, fact) == (
        f"{fact}: line 52: expected 22 columns, found 23 ({SMITH_JR[:120]}); {FIX}"
    )


# --- a trailing delimiter on every line: one unnamed last column ------------------------------


@pytest.mark.parametrize("blank", ["", " "], ids=["empty-name", "blank-name"])
def test_trailing_comma_on_every_line_reads_as_without(
    run, engine_name, tmp_path, tmp_path_factory, blank
):
    # the header's last column has no name (`""` or `" "`): an unknown extra column, carried
    # and ignored, so the delivery is SAMPLE's
    lines = [LINES[0] + "," + blank, *(line + "," for line in LINES[1:])]
    outcome = run(write_fact(tmp_path / "fact.csv", lines), engine=engine_name)
    assert outcome.error is None
    assert delivered(outcome) == delivered(baseline(engine_name, tmp_path_factory))


def test_two_unnamed_columns_are_refused(run, engine_name, tmp_path):
    lines = [LINES[0] + ",,", *(line + ",," for line in LINES[1:])]
    error = refused(run, engine_name, write_fact(tmp_path / "fact.csv", lines))
    assert error == (
        f"{tmp_path / 'fact.csv'}: its header has more than one column without a name (columns "
        "23 and 24); name them or remove them."
    )
