"""How the DuckDB engine reads s3:// inputs itself: its httpfs extension, loaded from the
`duckdb-extension-httpfs` wheel (the `s3` extra) and never downloaded during a run, an S3
secret in memory with the run's settings (io/s3.py), and its HTTP retries.

httpfs 1.5.5 alone has no `credential_chain` provider (that lives in the aws extension, which
is not shipped as a wheel): the chain is resolved in Python by botocore and the credentials it
found are handed over as a `config` secret.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import unquote, urlsplit

import duckdb

from healthanalytics.engines.duckdb_csv import sql_string
from healthanalytics.errors import first_line
from healthanalytics.io.s3 import TIMEOUT_SECONDS, S3Settings, unavailable

log = logging.getLogger(__name__)

HTTPFS_PACKAGE = "duckdb_extension_httpfs"
MISSING_HTTPFS = "reading s3:// needs the httpfs extension: pip install 'healthanalytics[s3]'"
_SECRET_NAME = "healthanalytics_s3"  # the name of the in-memory DuckDB secret, not a credential
_RETRY_WAIT_MS = 250  # the first retry's wait; each next one twice as long
_BACKOFF = 2


class S3ReadSetupError(RuntimeError):
    """DuckDB cannot be set up to read S3; the message says what to install or fix."""


def httpfs_extension() -> str:
    """The path of the httpfs extension file in the `duckdb-extension-httpfs` wheel, which
    must be built for the DuckDB version installed. S3ReadSetupError when it is missing."""
    try:
        built_for = version(HTTPFS_PACKAGE)
        folder = resources.files(HTTPFS_PACKAGE) / "extensions" / f"v{built_for}"
    except (PackageNotFoundError, ModuleNotFoundError) as err:
        raise S3ReadSetupError(MISSING_HTTPFS) from err
    if built_for != duckdb.__version__:
        raise S3ReadSetupError(
            f"{MISSING_HTTPFS} (duckdb-extension-httpfs {built_for} is installed, built for "
            f"DuckDB {built_for}, but DuckDB is {duckdb.__version__}: install matching versions)"
        )
    path = folder / "httpfs.duckdb_extension"
    if not path.is_file():
        raise S3ReadSetupError(f"{MISSING_HTTPFS} ({path} is missing: reinstall it)")
    return str(path)


def enable_s3(con: duckdb.DuckDBPyConnection, s3: S3Settings) -> None:
    """httpfs loaded from the wheel, the S3 secret created (in memory, for this connection)
    and the HTTP retries set: `s3.max_attempts` attempts per request, waits doubling from
    250 ms, a request stalled for TIMEOUT_SECONDS retried."""
    path = httpfs_extension()
    try:
        con.execute(f"LOAD {sql_string(path)}")
    except duckdb.Error as err:
        raise S3ReadSetupError(
            f"{MISSING_HTTPFS} (the extension file {path} does not load: {first_line(str(err))})"
        ) from err
    con.execute(f"SET http_retries = {s3.max_attempts - 1}")
    con.execute(f"SET http_retry_wait_ms = {_RETRY_WAIT_MS}")
    con.execute(f"SET http_retry_backoff = {_BACKOFF}")
    con.execute(f"SET http_timeout = {TIMEOUT_SECONDS}")
    options = [
        "TYPE s3",
        f"REGION {sql_string(s3.region)}",
        f"URL_STYLE {sql_string('path' if s3.path_style else 'vhost')}",
        f"USE_SSL {'true' if s3.use_ssl else 'false'}",
    ]
    if s3.endpoint_host:
        options.append(f"ENDPOINT {sql_string(s3.endpoint_host)}")
    hidden: tuple[str, ...] = ()
    if s3.credentials is not None:
        hidden = s3.credentials.secrets()
        options += [
            f"KEY_ID {sql_string(s3.credentials.key_id)}",
            f"SECRET {sql_string(s3.credentials.secret)}",
        ]
        if s3.credentials.token:
            options.append(f"SESSION_TOKEN {sql_string(s3.credentials.token)}")
    try:
        con.execute(f"CREATE OR REPLACE TEMPORARY SECRET {_SECRET_NAME} ({', '.join(options)})")
    except duckdb.Error as err:
        message = first_line(str(err))
        for part in hidden:  # a parser error may quote the statement
            message = message.replace(part, "***")
        raise S3ReadSetupError(f"the S3 settings cannot be given to DuckDB: {message}") from None
    log.info("DuckDB reads s3:// with httpfs from %s; %s", path, s3.describe())


_HTTP_URL = re.compile(r" for HTTP [A-Z]+ to '(https?://[^']+)'")
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")
_ERROR_KIND = re.compile(r"^\s*(?:HTTP|IO) Error:\s*")


def s3_failure(text: str, inputs: Iterable[str], attempts: int) -> str | None:
    """A DuckDB error about an HTTP request to one of the s3:// `inputs` (its retries spent) as
    the one line S3Files gives, naming the s3:// object, not the URL DuckDB requested; None
    when the error is about something else."""
    found = _HTTP_URL.search(text)
    if found is None:
        return None
    url = urlsplit(found[1])
    path = unquote(url.path)
    for uri in inputs:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        path_style = path == f"/{bucket}/{key}"
        if path_style or (url.netloc.startswith(f"{bucket}.") and path == f"/{key}"):
            told = text[: found.start()]
            status = _HTTP_STATUS.search(told)
            reason = f"HTTP {status[1]}" if status else _ERROR_KIND.sub("", first_line(told))
            # "IO Error: Failure when receiving data from the peer error for HTTP GET to ..."
            return unavailable(uri, attempts, reason.removesuffix(" error"))
    return None
