"""The Spark engine produces what the DuckDB engine produces: the real CLI on a real standalone
cluster and the pipeline on the in-process local session, every persisted table and report file
compared row for row, inputs given as local paths or as viewfs:// URIs only Hadoop resolves; plus
the engine's own edges, in process."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import io
import itertools
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from healthanalytics.contracts import DELIVERY_TABLES
from healthanalytics.io.files import LOCAL_FILES
from healthanalytics.io.inputs import InputError, InputFiles, bundled, read_header, resolve_input
from healthanalytics.io.quality_file import write_quality_checks
from healthanalytics.io.report_files import COMPRESSIONS, read_report_files
from healthanalytics.io.warehouse import open_warehouse
from healthanalytics.quality import CheckResult
from tests.conftest import (
    NO_PYTHON,
    RUN_DATE,
    SPARK_CONF,
    assert_same_table,
    drop_spark_gateway,
    refused,
    run_case,
    spark_gateway_works,
    spark_watchdog,
)
from tests.engines.spark_cluster import FAST_JVM, missing_requirement, standalone_cluster

# one worker runs the module: the cluster and the generated inputs are made once
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

if (_missing := missing_requirement()) is not None:
    pytest.skip(_missing, allow_module_level=True)

import ibis  # noqa: E402 - only once Spark is known to be there
from pyspark.sql import functions as F  # noqa: E402

from healthanalytics import pipeline  # noqa: E402
from healthanalytics.config import ReportFileSettings, Settings  # noqa: E402
from healthanalytics.engines import EngineError, create_engine  # noqa: E402
from healthanalytics.engines.spark import SparkEngine  # noqa: E402
from healthanalytics.engines.spark import files as hadoop_files  # noqa: E402
from healthanalytics.engines.spark import readers as spark_readers  # noqa: E402
from healthanalytics.engines.spark import results as spark_results  # noqa: E402
from healthanalytics.engines.spark import session as spark_session  # noqa: E402
from healthanalytics.transforms import cities, cleaning, staging  # noqa: E402
from healthanalytics.transforms import values as value_rules  # noqa: E402

SAMPLE = bundled("prescriber_fact_sample.csv")
GENERATED_ROWS = 200_000
# Small, quickly started JVMs for the cluster's runs: the data is small and CI has two cores.
FAST_CONF = {
    "spark.driver.memory": "1g",
    "spark.executor.memory": "1g",
    "spark.driver.extraJavaOptions": FAST_JVM,
    "spark.executor.extraJavaOptions": FAST_JVM,
    "spark.ui.enabled": "false",
}
PYTHON_NODE = re.compile(r"Python|Pandas")
RUN_VOLATILE = ["run_id", "engine", "started_at", "finished_at", "host", "pid"]


# --- comparing outputs ------------------------------------------------------------------------


def assert_same_run(
    spark_out: Path, duckdb_out: Path, spark_db: str | None = None, fact_source: str | None = None
) -> None:
    """Every persisted table and every report file of the two runs hold the same rows; the
    Spark run read `fact_source` when given (the DuckDB run a local copy of it)."""
    with (
        open_warehouse(spark_db or str(spark_out / "healthanalytics.duckdb")) as spark,
        open_warehouse(str(duckdb_out / "healthanalytics.duckdb")) as duckdb,
    ):
        for name in DELIVERY_TABLES:
            assert_same_table(spark.read_table(name), duckdb.read_table(name), name)
        spark_runs, duckdb_runs = (
            spark.read_table("pipeline_runs"),
            duckdb.read_table("pipeline_runs"),
        )
    assert spark_runs.column("engine").to_pylist() == ["spark"]
    volatile = RUN_VOLATILE
    if fact_source:
        assert spark_runs.column("fact_source").to_pylist() == [fact_source]
        volatile = [*RUN_VOLATILE, "fact_source"]
    assert spark_runs.drop(volatile).to_pylist() == duckdb_runs.drop(volatile).to_pylist()
    for name in ("city_report", "prescriber_report"):
        spark_report, duckdb_report = (
            read_report_files(spark_out / name),
            read_report_files(duckdb_out / name),
        )
        assert_same_table(spark_report, duckdb_report, f"{name} files")
        parts = [len(list((out / name).glob("part-*"))) for out in (spark_out, duckdb_out)]
        assert parts[0] == parts[1], f"{name}: {parts[0]} part files on Spark, {parts[1]} on DuckDB"


# --- the cluster and the runs -----------------------------------------------------------------


@pytest.fixture(scope="session")
def cluster():
    """One master and two workers (1 core, 1 GB each), shared by every test."""
    with standalone_cluster(workers=2, cores=1, memory="1g") as running:
        yield running


@pytest.fixture(scope="session")
def facts(tmp_path_factory) -> dict[str, str]:
    """The real 105-row excerpt and generated files in both layouts (gzip and bzip2 CSV)."""
    from healthanalytics.generate import generate_prescriptions

    folder = tmp_path_factory.mktemp("facts")
    paths = {"sample": SAMPLE}
    for layout, name, seed in (("course", "course.csv.gz", 11), ("cms", "cms.csv.bz2", 12)):
        path = folder / name
        generate_prescriptions(GENERATED_ROWS, path, layout=layout, fmt="csv", seed=seed)
        paths[layout] = str(path)
    return paths


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": NO_PYTHON,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "healthanalytics", "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _cluster_run(out: Path, master: str, *args: str, conf: dict | None = None) -> Path:
    """The CLI run on the standalone cluster at `master`, into `out` (its output folder and
    log); it must succeed. Adaptive re-planning stays on, as users run it."""
    args = ("--output", str(out), "--run-date", RUN_DATE.isoformat(),
            "--log-file", str(out / "run.log"), "--engine", "spark", "--master", master,
            *args)  # fmt: skip
    for setting in (FAST_CONF | (conf or {})).items():
        args += ("--spark-conf", "=".join(setting))
    finished = _cli(*args, cwd=out)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return out


def _in_process_run(out: Path, engine: str, fact: str, **settings) -> Path:
    """The pipeline in this process (Spark: on the local session) into `out` and its DuckDB
    file; it must succeed. Its log messages go to out/run.log, as the CLI's would."""
    settings.setdefault("db", str(out / "healthanalytics.duckdb"))
    outcome = run_case(fact, output=out, engine=engine, **settings)
    assert outcome.error is None, outcome.error
    (out / "run.log").write_text("\n".join(outcome.log))
    return out


@pytest.fixture(scope="session")
def run_outputs(request, tmp_path_factory, facts) -> Callable[..., Path]:
    """`(fact, mode[, db, analysis])` -> the output folder of that run; each run happens once
    (analysis: by default as `with_analysis` says). Mode
    "cluster" is the CLI on the standalone cluster, "local" the pipeline on the in-process
    local session, "duckdb" the pipeline on DuckDB in process."""
    done: dict[tuple[str, str, str | None], Path] = {}

    def produce(fact: str, mode: str, db: str | None = None, analysis: bool | None = None) -> Path:
        if analysis is None:
            analysis = with_analysis(fact, mode, db)
        key = (fact, mode, db, analysis)
        if key not in done:
            out = tmp_path_factory.mktemp(f"{fact}-{mode}")
            if mode == "cluster":
                master = request.getfixturevalue("cluster").master_url
                given = ["--db", db] if db else []
                given += [] if analysis else ["--no-analysis"]
                done[key] = _cluster_run(out, master, "--fact", facts[fact], *given)
            else:
                if mode == "local":
                    request.getfixturevalue("spark_in_process")
                given = {"db": db} if db else {}
                engine = "spark" if mode == "local" else "duckdb"
                done[key] = _in_process_run(
                    out, engine, facts[fact], analysis=analysis, **given
                )
        return done[key]

    return produce


def with_analysis(fact: str, mode: str, db: str | None = None) -> bool:
    """Whether a run computes the launch analysis: only the sample's in-process runs. On the
    generated inputs, on the cluster and beside PostgreSQL it costs minutes on two cores (the
    sample's cluster run with it passed 600 s in CI) and proves nothing the in-process run
    and test_analysis_tables_are_the_same_on_both_engines do not."""
    return fact == "sample" and mode != "cluster" and db is None


@pytest.mark.parametrize("mode", ["cluster", "local"])
@pytest.mark.parametrize("fact", ["sample", "course", "cms"])
def test_spark_run_matches_duckdb_run(run_outputs, fact, mode):
    duckdb_out = run_outputs(fact, "duckdb", analysis=with_analysis(fact, mode))
    assert_same_run(run_outputs(fact, mode), duckdb_out)


def test_cluster_run_ran_on_the_cluster(run_outputs, cluster):
    out = run_outputs("sample", "cluster")
    log = (out / "run.log").read_text()
    assert f"master={cluster.master_url}" in log
    # a local output folder with executors elsewhere: fine here (one machine), warned about
    assert re.search(
        rf"WARNING .*: output {re.escape(str(out))} is a local path but master "
        rf"{re.escape(cluster.master_url)} runs executors on other machines: they write report "
        rf"parts to their own disks, so {re.escape(str(out))} must be a folder shared by every "
        r"node, or give --output a cluster URI \(hdfs://, s3a://, gs://\.\.\.\)",
        log,
    ), log
    local_log = (run_outputs("sample", "local") / "run.log").read_text()
    assert "executors on other machines" not in local_log
    with urllib.request.urlopen(f"{cluster.web_url}/json", timeout=5) as answer:
        state = json.load(answer)
    assert "healthanalytics" in {app["name"] for app in state["completedapps"]}
    assert state["aliveworkers"] == 2


@pytest.mark.postgres
def test_spark_run_loads_postgresql(run_outputs, pg_url):
    spark_out = run_outputs("sample", "cluster", db=pg_url)
    assert_same_run(spark_out, run_outputs("sample", "duckdb", analysis=False), spark_db=pg_url)


# --- inputs through Hadoop -------------------------------------------------------------------

VIEWFS = "viewfs://test/data"
# what each run reads through viewfs://, so that every input shape runs on one of the masters
HADOOP_RUNS = {
    "local": ("fact_parts", "cities.parquet"),  # a folder of gzip CSV parts; one Parquet file
    "cluster": ("fact.csv.gz", "city_parts"),  # one gzip CSV file; a folder of Parquet parts
}


@pytest.fixture(scope="session")
def hadoop_data(tmp_path_factory) -> Path:
    """The sample and the bundled cities, as single files and as folders of parts."""
    data = tmp_path_factory.mktemp("hadoop") / "data"
    (data / "fact_parts").mkdir(parents=True)
    lines = Path(SAMPLE).read_bytes().splitlines(keepends=True)
    (data / "fact.csv.gz").write_bytes(gzip.compress(b"".join(lines)))
    for index, rows in enumerate((lines[1:50], lines[50:])):
        part = data / "fact_parts" / f"part-{index:05d}.csv.gz"
        part.write_bytes(gzip.compress(b"".join([lines[0], *rows])))
    (data / "fact_parts" / "_SUCCESS").touch()
    cities = pq.read_table(bundled("us_cities_dimension.parquet"))
    pq.write_table(cities, data / "cities.parquet")
    (data / "city_parts").mkdir()
    half = cities.num_rows // 2
    for index, part in enumerate((cities.slice(0, half), cities.slice(half))):
        pq.write_table(part, data / "city_parts" / f"part-{index:05d}.parquet")
    return data


def viewfs_mount(data: Path) -> dict[str, str]:
    """Hadoop configuration alone, no connector and no code of ours, that shows the local
    folder `data` at viewfs://test/data (a ViewFS mount table named test); fsspec has no
    viewfs at all, so every listing and header read must go through Hadoop."""
    return {"spark.hadoop.fs.viewfs.mounttable.test.link./data": data.as_uri()}


def test_viewfs_run_on_the_cluster_matches_duckdb_run_on_the_local_files(
    cluster, tmp_path, hadoop_data
):
    fact, city = HADOOP_RUNS["cluster"]
    spark_out, duckdb_out = tmp_path / "spark", tmp_path / "duckdb"
    spark_out.mkdir()
    # the reports through Hadoop; the analysis' parity is proven on the sample's runs
    _cluster_run(spark_out, cluster.master_url, "--fact", f"{VIEWFS}/{fact}",
                 "--city", f"{VIEWFS}/{city}", "--no-analysis",
                 conf=viewfs_mount(hadoop_data))  # fmt: skip
    _in_process_run(duckdb_out, "duckdb", str(hadoop_data / fact), city=hadoop_data / city,
                    analysis=False)  # fmt: skip
    assert_same_run(spark_out, duckdb_out, fact_source=f"{VIEWFS}/{fact}")


def test_viewfs_run_in_process_matches_duckdb_run_on_the_local_files(engine, tmp_path, hadoop_data):
    fact, city = HADOOP_RUNS["local"]
    root = _mount(engine, hadoop_data)  # viewfs://mountN/data shows hadoop_data
    spark_out, duckdb_out = tmp_path / "spark", tmp_path / "duckdb"
    _in_process_run(spark_out, "spark", f"{root}/{fact}", city=f"{root}/{city}", analysis=False)
    _in_process_run(duckdb_out, "duckdb", str(hadoop_data / fact), city=hadoop_data / city,
                    analysis=False)  # fmt: skip
    assert_same_run(spark_out, duckdb_out, fact_source=f"{root}/{fact}")


def test_viewfs_output_holds_what_the_duckdb_run_wrote_locally(engine, tmp_path, run_outputs):
    # the reports and the quality checks go through Hadoop alone: fsspec has no viewfs
    out, db = tmp_path / "out", tmp_path / "spark.duckdb"
    outcome = run_case(SAMPLE, output=_mount(engine, out), db=str(db), engine="spark",
                       analysis=False)  # fmt: skip
    assert outcome.error is None, outcome.error
    # no staging folder and no Hadoop checksum file left anywhere
    assert sorted(p.name for p in out.iterdir()) == [
        "city_report", "prescriber_report", "quality_checks.json"
    ]  # fmt: skip
    for name in ("city_report", "prescriber_report"):
        assert {p.name for p in (out / name).iterdir() if not p.name.startswith("part-")} == {
            "_SUCCESS"
        }
    duckdb_out = run_outputs("sample", "duckdb", analysis=False)
    assert_same_run(out, duckdb_out, spark_db=str(db))
    assert json.loads((out / "quality_checks.json").read_text()) == json.loads(
        (duckdb_out / "quality_checks.json").read_text()
    )


def test_launch_brief_goes_through_hadoop_to_a_uri_output(engine, tmp_path, run_outputs):
    # a Spark run's brief on a Hadoop output URI: the same files as in a local folder, and no
    # staging or checksum file left (fsspec has no viewfs: Hadoop alone writes them)
    from healthanalytics.brief import build_launch_brief
    from healthanalytics.io.publish import LocalOutput

    analysed = run_outputs("sample", "duckdb") / "healthanalytics.duckdb"
    hadoop, local = tmp_path / "hadoop", tmp_path / "local"
    hadoop.mkdir()
    uri = _mount(engine, hadoop)
    with open_warehouse(str(analysed)) as warehouse:
        page = build_launch_brief(warehouse, RUN_DATE, LocalOutput(uri, engine.file_access(uri)))
        build_launch_brief(warehouse, RUN_DATE, LocalOutput(str(local), LOCAL_FILES))
    assert page == f"{uri}/launch_brief.html"

    def files(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
                if p.is_file()}  # fmt: skip

    written = files(hadoop)
    assert "launch_brief.html" in written and any(n.startswith("charts/") for n in written)
    assert written == files(local)


def test_run_names_the_connector_a_scheme_needs(spark_in_process, tmp_path):
    # no hadoop-aws here: the run stops before reading anything, in one line
    outcome = refused("s3a://bucket/part_d/fact.csv.gz", output=tmp_path / "out",
                      db=str(tmp_path / "w.duckdb"), engine="spark")  # fmt: skip
    assert re.fullmatch(
        r"fact input s3a://bucket/part_d/fact\.csv\.gz cannot be read: the cluster's "
        r"Hadoop has no file system for s3a:// — add its connector to the cluster: hadoop-aws "
        r"\(--spark-conf spark\.jars\.packages=org\.apache\.hadoop:hadoop-aws:\d+\.\d+\.\d+\)",
        outcome.error,
    ), outcome.error


# --- the engine in process --------------------------------------------------------------------


@pytest.fixture
def engine(spark_in_process) -> SparkEngine:
    """A Spark engine on the in-process local[1] session, whose executors have no Python (per
    test, so that a test after one that broke the session gets a new one)."""
    return create_engine(Settings(engine="spark", master="local[1]", spark_conf=SPARK_CONF))


@pytest.fixture(scope="module")
def duckdb_engine():
    started = create_engine(Settings(engine="duckdb", threads=1))
    yield started
    started.close()


def test_pipeline_plans_hold_no_python(engine, monkeypatch, tmp_path):
    plans: list[str] = []
    real_sql = engine.session.sql

    def recording_sql(query, *args, **kwargs):
        frame = real_sql(query, *args, **kwargs)
        plans.append(frame._jdf.queryExecution().toString())
        return frame

    monkeypatch.setattr(engine.session, "sql", recording_sql)
    monkeypatch.setattr(engine, "close", lambda: None)
    monkeypatch.setattr(pipeline, "create_engine", lambda settings: engine)
    settings = Settings(engine="spark", fact=SAMPLE, output=str(tmp_path), run_date=RUN_DATE,
                        log_file=str(tmp_path / "run.log"))  # fmt: skip
    assert pipeline.run_pipeline(settings).record.status == "success"
    assert len(plans) > 10
    assert [plan for plan in plans if PYTHON_NODE.search(plan)] == []


def test_plan_check_sees_a_python_udf_and_executors_cannot_run_it(engine):
    # the control: the check above would have caught one, and the run would have failed anyway
    frame = engine.session.range(3).select(F.udf(lambda v: v + 1, "long")("id"))
    assert PYTHON_NODE.search(frame._jdf.queryExecution().toString())
    with pytest.raises(Exception, match="nonexistent"):
        frame.collect()


def _parquet(tmp_path: Path, **columns: pa.Array) -> str:
    path = tmp_path / f"input-{len(list(tmp_path.glob('input-*')))}.parquet"
    pq.write_table(pa.table(columns), path)
    return str(path)


EDGE_TEXT = [
    None,
    "",
    " \t12\t ",  # blanks around a number
    "fOLAFv",  # ibis 12 trimmed the letters f and v on Spark
    "\x0bX\x0c",  # vertical tab and form feed are blanks
    "= 12.0",  # experience as written by CMS
    "abc 99999999999999999999 x",  # digits beyond int64
    "1e3",
    "NaN",
    "St. Louis",  # ST -> SAINT, the period a word break
    "ft  myers",  # blanks collapsed, FT -> FORT
    "Mt.Vernon",  # punctuation parts words: MOUNT
    "LAKE ST STE FT",  # abbreviations side by side, inside a name
    "Cañon City",  # accents folded (translate)
    "Łódź Œuvre",  # a letter without a decomposition, a spelled-out ligature
    "...",  # no letter: an empty key
    "10 20  30",  # three ZIP codes, doubled blank
    "1234567893",  # a valid NPI
    "1234567890",  # ten digits, Luhn fails
    " 1234567893 ",  # blanks around an NPI
    "123456789",  # nine digits
    "1234567893\u2028",  # Java's `$` matches before a final U+2028: not an NPI on either engine
    "1,234",  # thousands separators: a number
    "-12,345.67",
    "1,23",  # not groups of three
    "1e308",  # beyond every bound
    "1000000000.5",  # rounds above the largest count
    "-3",  # an amount, no count
    "1_000",  # DuckDB's cast reads it, the rule does not
    "+-1",
    "12d",  # Spark's cast reads these, the rule does not
    "0x1p3",
    "\x0012",
    "Infinity",
    "O\x00BRIEN\x1b[0m\x85\x7f",  # control characters: C0, C1, DEL
]
FLOATS = [None, 1234567893.0, 12.5, -12.5, 0.1, 12345678.9, 0.9999999999, 1e-10, -1e-10,
          123456789012345678.0, 1e18, -1.5e300, math.nan, math.inf, -math.inf]  # fmt: skip


def test_transforms_give_the_same_values_on_both_engines(engine, duckdb_engine, tmp_path):
    path = _parquet(tmp_path, i=pa.array(range(len(EDGE_TEXT))), x=pa.array(EDGE_TEXT, pa.string()))

    def values(on) -> pa.Table:
        t = on.read_parquet(resolve_input(path, "fact"))
        npi = ibis.ifelse(staging.is_valid_npi(t.x), t.x.strip(), None).cast("int64")
        return on.to_arrow(
            t.select(
                "i",
                stripped=t.x.strip(),
                blank=staging.is_blank(t.x),
                number=ibis.ifelse(
                    value_rules.is_valid_amount(t.x), value_rules.parse_number(t.x), None
                ),
                count_ok=value_rules.is_valid_count(t.x),
                amount_ok=value_rules.is_valid_amount(t.x),
                printable=value_rules.printable(t.x),
                years=cleaning.first_integer(t.x),
                name=cleaning.full_name(t.x, ibis.literal("DOE")),
                place=cleaning.place_text(t.x),
                city_key=cities.normalise_city_name(t.x),
                zips=cities.count_zips(t.x),
                npi_valid=staging.is_valid_npi(t.x),
                luhn=staging.luhn_valid(npi),
            ).order_by("i")
        )

    spark, duckdb = values(engine), values(duckdb_engine)
    assert_same_table(spark, duckdb, "values")
    assert spark.column("stripped").to_pylist()[2:5] == ["12", "fOLAFv", "X"]


def test_typed_values_become_the_same_text_on_both_engines(engine, duckdb_engine, tmp_path):
    n = len(FLOATS)
    path = _parquet(
        tmp_path,
        i=pa.array(range(n)),
        f=pa.array(FLOATS, pa.float64()),
        f32=pa.array([None, 2.5] * (n // 2) + [None] * (n % 2), pa.float32()),
        i32=pa.array([None, -7] * (n // 2) + [None] * (n % 2), pa.int32()),
        d=pa.array([None, Decimal("12.5")] * (n // 2) + [None] * (n % 2), pa.decimal128(10, 2)),
    )

    def texts(on) -> pa.Table:
        t = on.read_parquet(resolve_input(path, "fact"))
        typed = {name: staging.as_text(t[name]) for name in ("f", "f32", "i32", "d")}
        checked = {  # typed numbers are checked by value
            f"{name}_{rule.__name__}": rule(t[name])
            for name in ("f", "i32", "d")
            for rule in (value_rules.is_valid_count, value_rules.is_valid_amount)
        }
        return on.to_arrow(t.select("i", **typed, **checked).order_by("i"))

    spark, duckdb = texts(engine), texts(duckdb_engine)
    assert_same_table(spark, duckdb, "typed values")
    assert spark.column("f").to_pylist()[1:3] == ["1234567893", "12.5"]
    assert spark.select(["i", "f", "f32", "i32", "d"]).to_pylist()[1] == dict(
        i=1, f="1234567893", f32="2.5", i32="-7", d="12.50"
    )
    # below zero, 1e15 on, NaN and infinities are no amounts; -7 is no count
    assert spark.column("f_is_valid_amount").to_pylist() == [
        f is None or 0 <= f < 1e15 for f in FLOATS
    ]
    assert spark.column("f_is_valid_amount").to_pylist().count(True) == 7
    assert spark.column("i32_is_valid_count").to_pylist() == [True, False] * 7 + [True]


def test_read_csv_keeps_text_as_read(engine, duckdb_engine, tmp_path):
    path = tmp_path / "fact.csv"
    # quoted comma, quoted and unquoted empties, blanks kept, doubled quote
    path.write_text('a,b,c\n"x, y","",\n  p  ,"say ""hi""",z\n')
    files = resolve_input(str(path), "fact")
    spark = engine.to_arrow(engine.read_csv(files, ("a", "b", "c")))
    duckdb = duckdb_engine.to_arrow(duckdb_engine.read_csv(files, ("a", "b", "c")))
    assert (
        spark.to_pylist()
        == duckdb.to_pylist()
        == [
            {"a": "x, y", "b": None, "c": None},
            {"a": "  p  ", "b": 'say "hi"', "c": "z"},
        ]
    )


def test_malformed_csv_row_names_file_and_row(engine, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")
    table = engine.read_csv(resolve_input(str(path), "fact"), ("a", "b"))
    message = rf"^{path}: line 3: expected 2 columns, found 3 \(3,4,5\); fix or remove that row$"
    with pytest.raises(EngineError, match=message):
        engine.materialize(table, "broken")


def test_compressed_csv_needs_its_suffix(engine, tmp_path):
    path = tmp_path / "fact.csv"  # gzip content, plain name: Spark would read bytes as text
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    with pytest.raises(EngineError, match=r"gzip-compressed .* does not end in \.gz"):
        engine.read_csv(resolve_input(str(path), "fact"), ("a", "b"))


def test_zstd_csv_is_refused_clearly_without_native_zstd(engine, tmp_path):
    if spark_readers.native_zstd(engine.session):
        pytest.skip("this Hadoop has native zstd")
    path = tmp_path / "fact.csv.zst"
    with pa.CompressedOutputStream(str(path), "zstd") as out:
        out.write(b"a,b\n1,2\n")
    with pytest.raises(EngineError, match=r"fact\.csv\.zst is zstd-compressed.*gzip or bzip2"):
        engine.read_csv(resolve_input(str(path), "fact"), ("a", "b"))


def test_to_batches_streams_every_row_in_slices(engine, monkeypatch):
    engine.session.range(0, 12, 1, numPartitions=3).createOrReplaceTempView("twelve")
    table = engine.con.table("twelve")  # three partitions of four rows
    monkeypatch.setattr(spark_results, "_SLICE_ROWS", 5)
    reader = engine.to_batches(table)
    batches = list(reader)
    assert [batch.num_rows for batch in batches] == [4, 4, 4]
    assert pa.Table.from_batches(batches, reader.schema).sort_by("id").column("id").to_pylist() == (
        list(range(12))
    )


def test_to_batches_of_nothing_is_an_empty_stream(engine, tmp_path):
    table = engine.read_parquet(resolve_input(_parquet(tmp_path, a=pa.array([1])), "fact"))
    reader = engine.to_batches(table.filter(table.a > 1))
    assert reader.schema.names == ["a"] and reader.read_all().num_rows == 0


def test_slices_group_partitions_up_to_the_limit():
    assert list(spark_results.slices({0: 3, 1: 3, 2: 4}, 6)) == [[0, 1], [2]]
    assert list(spark_results.slices({2: 9, 0: 1}, 5)) == [[0], [2]]  # too big: alone
    assert list(spark_results.slices({}, 5)) == []


REPORT_ROWS = {
    "s": pa.array(["plain", "a,b", 'say "hi"', "  padded  ", "", None, "Ünïcödé"]),
    "i": pa.array([1, None, 3, 4, 5, 6, 9_007_199_254_740_993], pa.int64()),
    "f": pa.array([0.1, 1e-7, None, 1234.5, -2.0, 3e20, 0.0], pa.float64()),
    "d": pa.array([dt.date(2026, 1, 15)] * 7, pa.date32()),
}


@pytest.mark.parametrize(
    "fmt,compression",
    [(fmt, codec) for fmt, codecs in COMPRESSIONS.items() for codec in codecs],
)
def test_report_files_match_duckdb_engine(engine, duckdb_engine, tmp_path, fmt, compression):
    spec = ReportFileSettings(format=fmt, compression=compression, files=2)
    source = resolve_input(_parquet(tmp_path, **REPORT_ROWS), "fact")
    for name, on in (("spark", engine), ("duckdb", duckdb_engine)):
        table = on.read_parquet(source)
        on.write_report(table.order_by("i"), str(tmp_path / name), spec)
    assert sorted(
        p.name for p in (tmp_path / "spark").iterdir() if not p.name.startswith("part-")
    ) == ["_SUCCESS"]
    assert len(list((tmp_path / "spark").glob("part-*"))) == 2
    assert_same_table(
        read_report_files(tmp_path / "spark"), read_report_files(tmp_path / "duckdb"), fmt
    )


@pytest.mark.parametrize("old", [True, False], ids=["replacing", "first"])
@pytest.mark.parametrize("where", ["local", "viewfs"])
def test_report_replaces_folder_only_when_complete(engine, tmp_path, where, old):
    out = tmp_path / "out"
    dest = out / "report"
    if old:
        dest.mkdir(parents=True)
        (dest / "part-old.json").write_text("{}\n")
        (dest / "_SUCCESS").touch()
    target = str(dest) if where == "local" else f"{_mount(engine, out)}/report"
    table = engine.read_parquet(resolve_input(_parquet(tmp_path, a=pa.array([1, 2])), "fact"))
    with pytest.raises(EngineError):  # a cast that fails row by row, mid-write (ANSI mode)
        engine.write_report(
            table.select(a=(table.a.cast("string") + "x").cast("int64")),
            target,
            ReportFileSettings(format="json", compression=None, files=1),
        )
    # the old report untouched, or nothing under the final name; no staging folder either way
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left == (["report"] if old else [])
    if old:
        assert sorted(p.name for p in dest.iterdir()) == ["_SUCCESS", "part-old.json"]


def test_unreachable_master_fails_fast_and_clearly():
    from tests.engines.spark_cluster import free_port

    master = f"spark://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(EngineError, match=r"no Spark master answers at spark://127\.0\.0\.1"):
        SparkEngine(Settings(engine="spark", master=master))


def test_cluster_spark_defaults_win_over_ours(monkeypatch, tmp_path):
    (tmp_path / "spark-defaults.conf").write_text(
        "# set by the cluster admin\n\nspark.driver.memory 8g\n"
        "spark.sql.autoBroadcastJoinThreshold=1m\n"  # properties syntax: key=value too
    )
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert spark_session.spark_defaults_keys() == {
        "spark.driver.memory",
        "spark.sql.autoBroadcastJoinThreshold",
    }


# --- outputs through Hadoop, in process -------------------------------------------------------


@pytest.mark.parametrize(
    "fmt,compression",
    # zstd text is compressed on the driver, through Hadoop's streams; the others by Spark
    [("json", "zstd"), ("csv", "zstd"), ("orc", "snappy"), ("json", "bzip2")],
)
def test_report_written_through_hadoop_matches_duckdb_engine(
    engine, duckdb_engine, tmp_path, fmt, compression
):
    spec = ReportFileSettings(format=fmt, compression=compression, files=2)
    source = resolve_input(_parquet(tmp_path, **REPORT_ROWS), "fact")
    out = tmp_path / "out"
    dest = f"{_mount(engine, out)}/report"
    for _ in range(2):  # the second write replaces the first
        engine.write_report(engine.read_parquet(source).order_by("i"), dest, spec)
    table = duckdb_engine.read_parquet(source).order_by("i")
    duckdb_engine.write_report(table, str(tmp_path / "duckdb"), spec)
    # no staging or retired folder, no Hadoop checksum file beside a part or the marker
    assert [p.name for p in out.iterdir()] == ["report"]
    assert {p.name for p in (out / "report").iterdir() if not p.name.startswith("part-")} == {
        "_SUCCESS"
    }
    assert len(list((out / "report").glob("part-*"))) == 2
    assert_same_table(
        read_report_files(out / "report"), read_report_files(tmp_path / "duckdb"), fmt
    )


def test_quality_checks_written_through_hadoop(engine, tmp_path):
    root = _mount(engine, tmp_path)
    files = engine.output_access(root)
    for checks in ([CheckResult("a", True, "ok")], [CheckResult("b", False, "1 gap")]):
        write_quality_checks(checks, f"{root}/out/quality_checks.json", files)
    # replaced, and no temporary or checksum file beside it
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["quality_checks.json"]
    assert json.loads((tmp_path / "out" / "quality_checks.json").read_text()) == [
        {"name": "b", "passed": False, "detail": "1 gap"}
    ]


def test_output_uri_without_a_hadoop_file_system_stops_the_run_before_any_work(
    engine, monkeypatch, tmp_path
):
    monkeypatch.setattr(engine, "close", lambda: None)
    monkeypatch.setattr(pipeline, "create_engine", lambda settings: engine)
    settings = Settings(engine="spark", fact=SAMPLE, output="nosuch://bucket/out",
                        db_url=str(tmp_path / "w.duckdb"), run_date=RUN_DATE)  # fmt: skip
    stages: list[str] = []
    with pytest.raises(EngineError) as caught:
        pipeline.run_pipeline(settings, lambda stage, event, *_: stages.append(f"{stage} {event}"))
    assert str(caught.value) == (
        "--output nosuch://bucket/out cannot be written: the cluster's Hadoop has no file system "
        "for nosuch:// — add the connector jar that provides it to the cluster, or check the URI"
    )
    assert stages == ["connect start", "connect end"]


# --- the driver's Hadoop file access, in process ----------------------------------------------

_mounts = itertools.count()


def _mount(engine, folder: Path) -> str:
    """A new viewfs:// root showing `folder`, set in the running session's Hadoop configuration
    (a new mount table name each time: Hadoop caches a file system per scheme and name)."""
    table = f"mount{next(_mounts)}"
    conf = engine.session.sparkContext._jsc.hadoopConfiguration()
    conf.set(f"fs.viewfs.mounttable.{table}.link./data", folder.as_uri())
    return f"viewfs://{table}/data"


@pytest.mark.parametrize("name", ["fact.csv.gz", "fact_parts", "cities.parquet", "city_parts"])
def test_hadoop_files_find_what_fsspec_finds(engine, hadoop_data, name):
    root = _mount(engine, hadoop_data)
    hadoop = engine.file_access(root)
    assert engine.file_access(str(hadoop_data)) is LOCAL_FILES  # plain paths stay with fsspec
    through = resolve_input(f"{root}/{name}", "fact", hadoop)
    local = resolve_input(str(hadoop_data / name), "fact")
    assert through == InputFiles(
        f"{root}/{name}",
        tuple(path.replace(str(hadoop_data), root) for path in local.paths),
        local.format,
        local.compression,
        local.size,
    )
    assert read_header(through, hadoop) == read_header(local)


def test_hadoop_file_reads_and_seeks(engine, tmp_path):
    (tmp_path / "ten.bin").write_bytes(bytes(range(10)))
    root = _mount(engine, tmp_path)
    with engine.file_access(root).open(f"{root}/ten.bin") as handle:
        assert handle.read(3) == bytes([0, 1, 2])
        assert handle.seek(-2, io.SEEK_END) == 8 and handle.read() == bytes([8, 9])
        assert handle.seek(-5, io.SEEK_CUR) == 5 and handle.tell() == 5
        assert handle.read(100) == bytes(range(5, 10)) and handle.read(1) == b""


@pytest.mark.parametrize(
    "name,message",
    [
        ("nope.csv", "fact file not found: {root}/nope.csv — check the path or pass --fact."),
        (
            "markers",  # a folder holding only a _SUCCESS marker
            "fact folder {root}/markers holds no data files (empty files and names starting "
            "with _ or . are skipped): point --fact at the data or a folder of its part files.",
        ),
    ],
)
def test_missing_or_empty_hadoop_input(engine, tmp_path, name, message):
    (tmp_path / "markers").mkdir()
    (tmp_path / "markers" / "_SUCCESS").touch()
    root = _mount(engine, tmp_path)
    with pytest.raises(InputError) as caught:
        resolve_input(f"{root}/{name}", "fact", engine.file_access(root))
    assert str(caught.value) == message.format(root=root)


@pytest.mark.parametrize(
    "uri,remedy",
    [
        ("s3a://bucket/x.csv", r"add its connector to the cluster: hadoop-aws \(--spark-conf "
                               r"spark\.jars\.packages=org\.apache\.hadoop:hadoop-aws:\d"),
        ("gs://bucket/x.csv", r"add its connector to the cluster: the GCS connector "
                              r"\(com\.google\.cloud\.bigdataoss:gcs-connector"),
        ("nosuch://bucket/x.csv", r"add the connector jar that provides it to the cluster, or "
                                  r"check the URI$"),
    ],
)  # fmt: skip
def test_scheme_without_a_hadoop_file_system_names_its_connector(engine, uri, remedy):
    scheme = uri.split(":")[0]
    with pytest.raises(InputError) as caught:
        resolve_input(uri, "fact", engine.file_access(uri))
    message = str(caught.value)
    assert message.startswith(
        f"fact input {uri} cannot be read: the cluster's Hadoop has no file system for "
        f"{scheme}:// — "
    )
    assert re.search(remedy, message) and "\n" not in message, message


@pytest.mark.parametrize(
    "java_class,text,python_class",
    [
        # HDFS refusing a user; S3A refusing a request; the local file system refusing a file
        ("org.apache.hadoop.security.AccessControlException", "Permission denied: user=x",
         PermissionError),
        ("java.nio.file.AccessDeniedException", "s3a://b/k: getFileStatus", PermissionError),
        ("java.io.FileNotFoundException", "/data/f.csv (Permission denied)", PermissionError),
        ("java.io.FileNotFoundException", "File /data/f.csv does not exist", FileNotFoundError),
        ("java.io.IOException", "java.io.IOException: disk on fire", OSError),
    ],
)  # fmt: skip
def test_hadoop_exceptions_become_python_ones(engine, java_class, text, python_class):
    jvm = engine.session._jvm
    thrown = functools.reduce(getattr, java_class.split("."), jvm)(text)
    # a real Java exception, thrown in the JVM as the cause of another one
    failed = jvm.java.util.concurrent.CompletableFuture.failedFuture(thrown)
    with pytest.raises(OSError) as caught, hadoop_files._hadoop_errors():
        failed.get()
    assert type(caught.value) is python_class
    assert str(caught.value).endswith(text)


def test_analysis_tables_are_the_same_on_both_engines(engine, duckdb_engine, tmp_path):
    from healthanalytics.analysis.concentration import market_products, market_summary
    from healthanalytics.analysis.cost import prescriber_cost, state_cost
    from healthanalytics.analysis.coverage import map_coverage
    from healthanalytics.analysis.deciles import (
        generic_keys,
        market_deciles,
        market_lines,
        market_prescribers,
    )
    from healthanalytics.analysis.geography import market_geography
    from healthanalytics.analysis.market import resolve_market
    from healthanalytics.analysis.outliers import peer_outliers
    from healthanalytics.analysis.segments import city_features
    from healthanalytics.analysis.specialties import market_specialties
    from healthanalytics.analysis.targets.features import model_inputs, prescriber_features

    # 3,000 prescriber-drug rows: volumes rising with the NPI, tied among neighbours; blank
    # specialties, states and day supplies, suppressed counts
    names = [("LIPITOR", "ATORVASTATIN CALCIUM"), ("ATORVASTATIN CALCIUM", "ATORVASTATIN CALCIUM"),
             ("ZOCOR", "SIMVASTATIN"), ("LISINOPRIL", "LISINOPRIL"), ("X", None)]  # fmt: skip
    rows = [
        (1_000_000_000 + i % 700, ["Cardiology", "Family Practice", None][i % 3],
         *names[(i * 7) % 5], None if i % 17 == 0 else 11 + (i * 31) % 90,
         None if i % 23 == 0 else float(30 * (1 + (i % 700) // 7)), round(0.37 * i, 2))
        for i in range(3_000)
    ]  # fmt: skip
    columns = ["presc_id", "specialty", "brand_name", "generic_name", "claims", "day_supply",
               "drug_cost"]  # fmt: skip
    data = {name: [row[k] for row in rows] for k, name in enumerate(columns)}
    drugs_path = _parquet(
        tmp_path,
        **{name: pa.array(values) for name, values in data.items()},
        lines=pa.array([1] * len(rows), pa.int64()),
        claims_unknown=pa.array([int(c is None) for c in data["claims"]], pa.int64()),
        fills=pa.array([None if d is None else d / 30 for d in data["day_supply"]]),
        bene_count=pa.array([None if i % 13 == 0 else 11 + i % 40 for i in range(3_000)]),
    )
    places_path = _parquet(
        tmp_path,
        presc_id=pa.array(range(1_000_000_000, 1_000_000_700), pa.int64()),
        presc_state=pa.array([["NY", "XX", None, "CA"][i % 4] for i in range(700)]),
        years_of_exp=pa.array([None if i % 5 == 0 else 10 + i % 30 for i in range(700)]),
    )
    # the cities' segments (the lookalike model's input): two of the six cities
    segments_path = _parquet(
        tmp_path,
        city_id=pa.array([0, 2], pa.int64()),
        segment_name=pa.array(["large metro, high demand", "small town"]),
    )
    # the lines matched to cities: NY prescribers in three cities or none, CA in two (one
    # tiny); a city of population 0, one of unknown population, one without prescribers
    cities_path = _parquet(
        tmp_path,
        city_id=pa.array(range(6), pa.int64()),
        city=pa.array(["Albany", "Ghost", "Fresno", "Tiny", "Nowhere", "Austin"]),
        state_id=pa.array(["NY", "NY", "CA", "CA", "CA", "TX"]),
        population=pa.array([120_000, 0, 500_000, 30, None, 900_000], pa.int64()),
        lat=pa.array([42.65, 40.0, 36.74, 36.0, None, 30.27]),
        lng=pa.array([-73.75, -74.0, -119.79, -120.0, None, -97.74]),
    )
    city_of = {"NY": [0, 1, None], "CA": [2, 3, 2, 4], "XX": [None], None: [None]}
    states = [["NY", "XX", None, "CA"][i % 4] for i in range(700)]
    matched_path = _parquet(
        tmp_path,
        presc_id=pa.array(range(1_000_000_000, 1_000_000_700), pa.int64()),
        presc_state=pa.array(states),
        city_id=pa.array(
            [city_of[s][(i // 4) % len(city_of[s])] for i, s in enumerate(states)], pa.int64()
        ),
    )
    basket = resolve_market()
    map_keys = ["ATORVASTATIN", "LISINOPRIL", "SIMVASTATIN"]

    def analysed(on) -> dict[str, pa.Table]:
        drugs = on.read_parquet(resolve_input(drugs_path, "fact"))
        places = on.read_parquet(resolve_input(places_path, "fact"))
        matched = on.read_parquet(resolve_input(matched_path, "fact"))
        cities = on.read_parquet(resolve_input(cities_path, "fact"))
        segments = on.read_parquet(resolve_input(segments_path, "fact"))
        keys = on.materialize(generic_keys(drugs, map_keys, basket.ingredient_keys), "keys")
        lines = on.materialize(market_lines(drugs, keys), "lines")
        prescribers = on.materialize(market_prescribers(drugs, places, lines), "prescribers")
        products = market_products(lines, keys)
        cost = on.materialize(prescriber_cost(drugs, prescribers), "cost")
        tables = {
            "market_prescribers": prescribers,
            "market_deciles": market_deciles(prescribers),
            "market_products": products,
            "market_specialties": market_specialties(prescribers),
            "market_geography": market_geography(prescribers, matched, cities),
            "city_features": city_features(drugs, keys, matched, cities, prescribers),
            "market_summary": market_summary(basket, prescribers, products, map_coverage(keys)),
            "prescriber_cost": cost,
            "state_cost": state_cost(cost),
            "peer_outliers": peer_outliers(prescribers, cost),
        }
        features = prescriber_features(drugs, keys, places, prescribers, matched, segments)
        tables["prescriber_features"] = features
        tables["model_inputs"] = model_inputs(features, drugs, prescribers)
        return {name: on.to_arrow(table) for name, table in tables.items()}

    spark, duckdb = analysed(engine), analysed(duckdb_engine)
    for name in spark:
        assert_same_table(spark[name], duckdb[name], name)
    # every decile is populated: the comparison covers the boundaries
    assert sorted(duckdb["market_deciles"].column("decile").to_pylist()) == list(range(11))


def test_a_hung_spark_call_is_stopped_and_the_next_test_gets_a_new_jvm(spark_in_process):
    # what conftest does for a Spark test that reaches its time limit: without it, the run
    # waits for the hung call and every later Spark test of the worker fails
    from py4j.protocol import Py4JNetworkError
    from pyspark import SparkContext

    settings = Settings(engine="spark", master="local[1]", spark_conf=SPARK_CONF)
    hung = create_engine(settings)
    killed = SparkContext._gateway.proc
    started = time.monotonic()
    with pytest.raises((ConnectionError, Py4JNetworkError)), spark_watchdog(3):
        hung.session.range(10**13).selectExpr("max(id * 3) AS m").collect()
    assert time.monotonic() - started < 60
    assert not spark_gateway_works()
    drop_spark_gateway()
    assert spark_gateway_works()
    assert create_engine(settings).session.range(3).count() == 3
    assert SparkContext._gateway.proc.pid != killed.pid
