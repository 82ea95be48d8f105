"""The `healthanalytics` command: a thin layer over the pipeline."""

from __future__ import annotations

import datetime as dt
import logging
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from healthanalytics.config import load_settings
from healthanalytics.errors import ExitCode, exit_code, user_error_message
from healthanalytics.io.warehouse import mask_url
from healthanalytics.logging_setup import configure_logging

app = typer.Typer(
    help="Medicare Part D prescriber analytics: clean, report, persist.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
log = logging.getLogger("healthanalytics.cli")
# Until a run configures the log file, keep logging's last-resort handler off the console.
logging.getLogger("healthanalytics").addHandler(logging.NullHandler())


USAGE_ERROR = ExitCode.USAGE  # as click exits on an unknown option: the command line is wrong


def _fail(err: BaseException, verbose: bool, code: ExitCode | None = None) -> None:
    """Log and print the one line for `err`, then exit with `code` (default: the code of the
    error's kind, errors.exit_code)."""
    message = user_error_message(err)
    log.error("run failed: %s", message)
    if verbose:
        console.print_exception()
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False)
    raise typer.Exit(code=int(exit_code(err) if code is None else code))


@app.command()
def run(
    city: Annotated[
        str | None, typer.Option(help="City dimension (Parquet/CSV file or folder, or s3://).")
    ] = None,
    fact: Annotated[
        str | None,
        typer.Option(
            help="Prescriber fact (CSV[.gz|.bz2|.zst]/Parquet, file or folder; s3://bucket/key "
            "or s3://bucket/prefix/ with the s3 extra)."
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            help="Folder for report files; on Spark also a Hadoop URI (hdfs://, s3a://, ...) "
            "\\[default: output]."
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="DuckDB file or postgresql:// URL \\[default: <output>/healthanalytics.duckdb; "
            "env HEALTHANALYTICS_DB_URL]."
        ),
    ] = None,
    run_date: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Delivery date \\[default: today]."),
    ] = None,
    engine: Annotated[str | None, typer.Option(help="duckdb (default) or spark.")] = None,
    log_file: Annotated[
        str | None, typer.Option(help="\\[default: logs/presc_run_pipeline.log]")
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(help="Fact CSV field delimiter: one character, or tab \\[default: ,]."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Fact CSV text encoding: utf-8, latin-1 or cp1252 \\[default: utf-8]."),
    ] = None,
    allow_smaller_delivery: Annotated[
        bool,
        typer.Option(
            "--allow-smaller-delivery",
            help="Deliver even when the input keeps no rows, or fewer than --min-delivery-share "
            "of the rows of the delivery it replaces.",
        ),
    ] = False,
    min_delivery_share: Annotated[
        float | None,
        typer.Option(
            help="Least share of the replaced delivery's kept rows a re-run must keep "
            "\\[default: 0.5]."
        ),
    ] = None,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds to wait for another run using the same output folder, database file "
            "or delivery date \\[default: 0, refuse at once]."
        ),
    ] = None,
    keep_runs: Annotated[
        int | None,
        typer.Option(help="Published runs kept per date of an s3:// output \\[default: 2]."),
    ] = None,
    top_n: Annotated[
        int | None, typer.Option(help="Prescribers kept per state \\[default: 5].")
    ] = None,
    min_years: Annotated[
        int | None, typer.Option(help="Least years of experience \\[default: 20].")
    ] = None,
    max_years: Annotated[
        int | None, typer.Option(help="Most years of experience \\[default: 50].")
    ] = None,
    market: Annotated[
        str | None,
        typer.Option(
            help="Market basket: a drug class, a therapeutic area, or generic/brand names "
            "separated by commas (`healthanalytics markets` lists them) "
            "\\[default: HMG-CoA Reductase Inhibitor]."
        ),
    ] = None,
    no_analysis: Annotated[
        bool,
        typer.Option(
            "--no-analysis",
            help="Skip the launch analysis (the market tables); the reports are delivered alone.",
        ),
    ] = False,
    threads: Annotated[
        int | None, typer.Option(help="DuckDB threads \\[default: all cores].")
    ] = None,
    memory_limit: Annotated[str | None, typer.Option(help="DuckDB memory limit, e.g. 4GB.")] = None,
    temp_directory: Annotated[str | None, typer.Option(help="Where DuckDB spills to disk.")] = None,
    master: Annotated[
        str | None,
        typer.Option(
            help="Spark master: local[N], spark://host:port, yarn, k8s://... \\[default: local[*]]."
        ),
    ] = None,
    spark_conf: Annotated[
        list[str] | None,
        typer.Option(help="Spark setting KEY=VALUE; repeat for more."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML config file (keys = option names).")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug log and tracebacks.")
    ] = False,
) -> None:
    """Run the pipeline: ingest, clean, report, write files, persist."""
    from healthanalytics.pipeline import run_pipeline

    try:
        settings = load_settings(
            config,
            city=city,
            fact=fact,
            output=output,
            db_url=db,
            run_date=run_date.date() if run_date else None,
            engine=engine,
            log_file=log_file,
            delimiter=delimiter,
            encoding=encoding,
            allow_smaller_delivery=allow_smaller_delivery or None,  # unset: config decides
            min_delivery_share=min_delivery_share,
            lock_timeout=lock_timeout,
            keep_runs=keep_runs,
            top_n=top_n,
            min_years=min_years,
            max_years=max_years,
            market=market,
            analysis=False if no_analysis else None,  # unset: config decides
            threads=threads,
            memory_limit=memory_limit,
            temp_directory=temp_directory,
            master=master,
            spark_conf=_key_values(spark_conf) if spark_conf else None,
        )
    except (ValidationError, FileNotFoundError, ValueError) as err:
        _fail(err, verbose, USAGE_ERROR)
    try:
        log_path = configure_logging(settings.log_file, verbose)
    except OSError as err:
        _fail(OSError(f"--log-file {settings.log_file} cannot be written: {err}"), verbose)
    console.print(
        f"HealthAnalytics run for [bold]{settings.run_date}[/] on [bold]{settings.engine}[/] "
        f"-> {mask_url(settings.warehouse_target)}  (log: {log_path})",
        highlight=False,
    )
    with console.status("starting") as status:

        def on_stage(stage: str, event: str, seconds: float | None, detail: str) -> None:
            if event == "start":
                status.update(f"{stage} ...")
            else:
                console.print(
                    f"  [green]done[/] {stage:<8} {seconds:7.2f} s  {detail}", highlight=False
                )

        try:
            # a stop request (kill, a scheduler's timeout) ends the run like Ctrl-C: recorded
            # failed, locks released, scratch removed
            signal.signal(signal.SIGTERM, _interrupt)
            result = run_pipeline(settings, on_stage)
        except KeyboardInterrupt as err:
            stopped = RunStopped(
                f"the run was stopped ({err or 'Ctrl-C'}): its pipeline_runs row says whether it "
                "had delivered; if not, the date's earlier delivery is unchanged"
            )
            _fail(stopped, verbose, ExitCode.INTERRUPTED)
        except Exception as err:
            _fail(err, verbose)
    console.print(_summary(result.record.row(), result.outputs))


class RunStopped(RuntimeError):
    """The run was interrupted (Ctrl-C, SIGTERM)."""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


def _key_values(pairs: list[str]) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--spark-conf")
        parsed[key.strip()] = value.strip()
    return parsed


def _summary(record: dict[str, Any], outputs: dict[str, str]) -> Table:
    table = Table(title="Run summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for label, key in (
        ("rows read", "rows_read"),
        ("rows kept", "rows_kept"),
        ("quarantined: invalid_npi", "quarantined_invalid_npi"),
        ("quarantined: missing_drug", "quarantined_missing_drug"),
        ("quarantined: invalid_number", "quarantined_invalid_number"),
        ("quarantined: duplicate_row", "quarantined_duplicate_row"),
        ("NPIs failing the Luhn check (kept)", "npi_luhn_failures"),
        ("claim counts left unimputed", "trx_unimputed"),
        ("kept lines repeating a prescriber's drug (summed)", "repeated_drug_lines"),
        ("city report rows", "city_report_rows"),
        ("prescriber report rows", "prescriber_report_rows"),
        ("prescribers not ranked: state not a US state", "prescribers_outside_states"),
        ("prescribers not ranked: no known claims", "prescribers_without_claims"),
        ("places matching no city (see unmatched_cities)", "unmatched_places"),
    ):
        table.add_row(label, f"{record.get(key) or 0:,}")
    for label, key in (
        ("rows matched to a city", "rows_matched_share"),
        ("claims matched to a city", "claims_matched_share"),
    ):
        share = record.get(key)
        table.add_row(label, "n/a" if share is None else f"{share:.1%}")
    for name, path in outputs.items():
        table.add_row(name, path)
    return table


@app.command()
def generate(
    rows: Annotated[int, typer.Option(min=1, help="Rows to write.")],
    out: Annotated[Path, typer.Option(help="File to write (.csv, .csv.gz, .csv.zst, .parquet).")],
    layout: Annotated[str, typer.Option(help="course or cms column names.")] = "course",
    format: Annotated[
        str | None, typer.Option("--format", help="csv or parquet \\[default: from --out].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 0,
    dirty_rate: Annotated[
        float, typer.Option(help="Share of duplicate, drug-less and bad-NPI rows.")
    ] = 0.005,
) -> None:
    """Write synthetic prescriber-by-drug data shaped like the CMS Part D file."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from healthanalytics.generate import generate_prescriptions

    fmt = format or ("parquet" if out.suffix.lower() == ".parquet" else "csv")
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(f"writing {out.name}", total=rows)
            summary = generate_prescriptions(
                rows, out, layout=layout, fmt=fmt, seed=seed, dirty_rate=dirty_rate,
                on_progress=lambda n: progress.advance(task, n),
            )  # fmt: skip
    except (ValueError, OSError) as err:
        _fail(err, verbose=False)
    dirt = ", ".join(f"{kind} {count:,}" for kind, count in summary.dirty.items())
    console.print(
        f"wrote {summary.rows:,} rows ({summary.prescribers:,} prescribers, "
        f"{summary.bytes / 1e6:,.1f} MB) to {summary.path} in {summary.seconds:.1f} s; {dirt}",
        highlight=False,
    )


@app.command()
def brief(
    db: Annotated[
        str, typer.Option(help="The warehouse: a DuckDB file path or a postgresql:// URL.")
    ],
    run_date: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="The delivery date (YYYY-MM-DD).")
    ],
    output: Annotated[
        str, typer.Option(help="Local folder for launch_brief.html and charts/.")
    ] = "output",
) -> None:
    """Write the launch brief of one delivery from the warehouse, without recomputing it, to a
    local folder. An s3:// (or other URI) output is refused: on S3 the brief is part of the
    delivery `healthanalytics run` publishes (listed in its manifest before its pointer is
    switched), and a published delivery is never changed afterwards."""
    from healthanalytics.brief import build_launch_brief
    from healthanalytics.brief.data import NoDeliveryError
    from healthanalytics.io.files import LOCAL_FILES, uri_scheme
    from healthanalytics.io.publish import LocalOutput
    from healthanalytics.io.warehouse import open_warehouse

    date = run_date.date()
    if uri_scheme(output) is not None:
        _fail(ValueError(f"--output {output}: healthanalytics brief writes to a local folder "
                         "only; on S3 the brief is published with its delivery by "
                         "`healthanalytics run --output s3://…` (a published delivery is never "
                         "changed): pass a local folder, or run the date again"),
              verbose=False, code=USAGE_ERROR)  # fmt: skip
    if "://" not in db and not Path(db).is_file():
        _fail(FileNotFoundError(f"no warehouse at {db}: pass --db with a DuckDB file or a "
                                "postgresql:// URL"), verbose=False, code=USAGE_ERROR)  # fmt: skip
    try:
        with open_warehouse(db) as warehouse:
            page = build_launch_brief(warehouse, date, LocalOutput(output, LOCAL_FILES))
    except NoDeliveryError:
        _fail(ValueError(f"no delivery for {date.isoformat()} in {mask_url(db)}: run "
                          "`healthanalytics run` for that date first, or pick a delivered date"),
              verbose=False, code=USAGE_ERROR)  # fmt: skip
    except Exception as err:  # the warehouse unreachable or locked, a folder not writable
        _fail(err, verbose=False)
    size = Path(page).stat().st_size
    console.print(f"wrote {page} ({size / 1e6:,.2f} MB)", highlight=False)


@app.command()
def tables(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print Markdown (as docs/TABLES.md holds).")
    ] = False,
) -> None:
    """Print the data dictionary: every persisted table's columns, types, units, key, tests."""
    from healthanalytics.contracts import TABLES
    from healthanalytics.contracts.dictionary import markdown as as_markdown
    from healthanalytics.contracts.dictionary import rich_tables

    if markdown:
        typer.echo(as_markdown(TABLES.values()), nl=False)
        return
    out = Console()
    for block in rich_tables(TABLES.values()):
        out.print(block)


@app.command()
def markets(
    area: Annotated[str | None, typer.Option(help="Only this therapeutic area.")] = None,
) -> None:
    """List the bundled drug classes by therapeutic area, with their generic names."""
    from healthanalytics.analysis.market import MarketError, market_listing

    try:
        listing = market_listing(area)
    except MarketError as err:
        _fail(err, verbose=False, code=USAGE_ERROR)
    typer.echo(listing, nl=False)


@app.callback()
def main() -> None:
    """HealthAnalytics."""


if __name__ == "__main__":
    app()
