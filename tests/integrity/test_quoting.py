"""Quoting, alike on both engines: a corpus of quoted and unquoted values (line breaks inside
quotes, doubled quotes, a stray `"`, quotes never closed, a line too long), each asserted whole
on DuckDB and Spark: the delivery it makes, or the one line and exit code it stops with."""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import pytest

from healthanalytics.errors import ExitCode
from healthanalytics.io.csv_lines import LONGEST_LINE
from tests.integrity.conftest import SAMPLE
from tests.integrity.test_parsing import (
    FIX,
    LINES,
    baseline,
    delivered,
    quarantined,
    sample_row,
    with_line,
)


def held(**values: str) -> str:
    """SAMPLE's line 4 with an invalid NPI (held back, so its raw values show whole in the
    quarantine table), some values replaced as written in the file."""
    return ",".join(sample_row(npi="12345", **values))


@dataclass(frozen=True)
class Case:
    """A fact file and what both engines must make of it: the raw values of its held-back
    line 51 (`raw`, read from `line` once unquoted), or the refusal naming `at` and `what`."""

    line: str
    raw: dict[str, str] | None = None
    at: int = 51
    what: str = ""
    last: bool = False  # the line ends the file instead of standing at line 51
    compressed: bool = False  # the file is gzip-compressed: Spark reads it whole

    def content(self) -> bytes:
        lines = [*LINES, self.line] if self.last else with_line(self.line)
        data = ("\n".join(lines) + "\n").encode()
        return gzip.compress(data) if self.compressed else data


UNCLOSED = ",".join(sample_row(nppes_provider_city='"FORT ATKINSON'))
LONG = held(nppes_provider_last_org_name="X" * 3_000_000)
NEVER_CLOSED = "a quoted value is never closed"
TOO_LONG = f"the line is longer than {LONGEST_LINE:,} bytes"

CASES = {
    # a quoted city holding an LF: one value, the line break stored as a space (RULES:
    # control characters)
    "lf-in-quoted": Case(
        held(nppes_provider_city='"FORT\nATKINSON"'), raw={"raw_city": "FORT ATKINSON"}
    ),
    # a CRLF inside the quotes of an LF file: two control characters, two spaces
    "crlf-in-quoted": Case(
        held(nppes_provider_city='"FORT\r\nATKINSON"'), raw={"raw_city": "FORT  ATKINSON"}
    ),
    # `""` inside a quoted value is one `"`
    "doubled-quotes": Case(
        held(nppes_provider_last_org_name='"O""BRIEN"'), raw={"raw_last_name": 'O"BRIEN'}
    ),
    # a `"` inside an unquoted value is an ordinary character (an odd count on its line)
    "stray-quote": Case(held(nppes_provider_last_org_name='O"BRIEN'),
                        raw={"raw_last_name": 'O"BRIEN'}),
    # the same in a gzip file, which Spark reads whole (an odd count in the file)
    "stray-quote-gzip": Case(held(nppes_provider_last_org_name='O"BRIEN'),
                             raw={"raw_last_name": 'O"BRIEN'}, compressed=True),
    # a quote opened on the last line, never closed before the end of the file
    "unclosed-last-line": Case(UNCLOSED, at=107, what=NEVER_CLOSED, last=True),
    # a quote opened mid-file: the rest of the file (whose `""` are doubled quotes) swallowed
    "unclosed-mid-file": Case(UNCLOSED, what=NEVER_CLOSED),
    # the same in a gzip file, read whole by Spark
    "unclosed-mid-file-gzip": Case(UNCLOSED, what=NEVER_CLOSED, compressed=True),
    # a 3 MB unquoted value: longer than DuckDB reads a line, and no quote to blame
    "long-unquoted": Case(LONG, what=TOO_LONG),
    # the same in a gzip file, read whole by Spark
    "long-unquoted-gzip": Case(LONG, what=TOO_LONG, compressed=True),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_quoting_reads_alike_on_both_engines(run, engine_name, tmp_path, tmp_path_factory, name):
    case = CASES[name]
    fact = tmp_path / ("fact.csv.gz" if case.compressed else "fact.csv")
    fact.write_bytes(case.content())
    if case.raw is not None:
        outcome = run(fact, engine=engine_name)
        assert (outcome.error, outcome.code) == (None, ExitCode.OK)
        expected = delivered(baseline(engine_name, tmp_path_factory))
        row = quarantined(case.line.replace("\r", " ").replace("\n", " ")) | case.raw
        expected["quarantine"] = sorted([*expected["quarantine"], row], key=repr)
        assert delivered(outcome) == expected
        return
    # a refusal leaves the delivery before it as it was (made on DuckDB: the warehouse is the
    # same whichever engine reads)
    good = run(SAMPLE, engine="duckdb")
    assert good.error is None
    bad = run(fact, engine=engine_name)
    shown = case.line.splitlines()[0][:120]
    assert (bad.error, bad.code) == (f"{fact}: line {case.at}: {case.what} ({shown}); {FIX}",
                                     ExitCode.FAILED)  # fmt: skip
    assert delivered(bad) == delivered(good)
