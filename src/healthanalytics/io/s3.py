"""S3, reached the AWS way: credentials, region, endpoint, addressing and retries resolved once
per run, as the AWS CLI and SDKs resolve them, for both the driver's file access (s3fs) and the
engine's own reader.

- Credentials: the standard chain of botocore — `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`
  (/ `AWS_SESSION_TOKEN`), the shared credentials and config files (`AWS_PROFILE` picks the
  profile; SSO, assume-role and process credentials included), container and instance roles.
  None found: requests go unsigned (public buckets).
- Region: `AWS_REGION`, else `AWS_DEFAULT_REGION` or the profile's `region`, else us-east-1.
- Endpoint (S3-compatible stores: MinIO, Ceph, R2, GCS interoperability): `AWS_ENDPOINT_URL_S3`,
  else `AWS_ENDPOINT_URL`, else the profile's `services` section or `endpoint_url`; ignored when
  `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true. With an endpoint, buckets are addressed by path
  (`http://host/bucket/key`) unless the profile's `s3 = addressing_style = virtual` says
  otherwise; `addressing_style = path` asks for it on AWS too.
- Retries: botocore's standard mode (throttling, 5xx, resets and timeouts retried with
  exponential backoff and jitter), `AWS_MAX_ATTEMPTS` or the profile's `max_attempts` attempts
  in all (default 5); the engine's reader gets the same number of attempts.

A credential is held in memory only: never in a message, a log line or `repr`.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import fsspec

from healthanalytics.errors import first_line
from healthanalytics.io.files import FileEntry, FsspecFiles, StoreUnavailableError

DEFAULT_REGION = "us-east-1"
DEFAULT_ATTEMPTS = 5
TIMEOUT_SECONDS = 30  # a connection or a read stalled this long is retried
# bytes s3fs fetches per request when the driver reads a file (headers, integrity checks)
_BLOCK = 8 << 20
_TRUE = ("1", "true", "yes", "on")


class S3SetupError(RuntimeError):
    """The AWS settings cannot be resolved (an unknown profile, a broken config file)."""


@dataclass(frozen=True)
class S3Credentials:
    """One set of AWS credentials, frozen for the run; the secret parts never printed."""

    key_id: str
    secret: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    # where botocore found them (its `method`: env, shared-credentials-file, ...); for messages
    source: str = field(default="", compare=False)
    profile: str | None = field(default=None, compare=False)

    def where(self) -> str:
        """Which settings to check when S3 rejects these credentials (never their values)."""
        if self.source == "env":
            return "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)"
        if self.source in ("shared-credentials-file", "config-file"):
            return f"the AWS profile {self.profile or 'default'} (AWS_PROFILE) and its keys"
        return f"the AWS credentials from {self.source or 'the credential chain'} (AWS_PROFILE)"

    def secrets(self) -> tuple[str, ...]:
        """Every part of the credentials that must not be shown."""
        return tuple(part for part in (self.key_id, self.secret, self.token) if part)


@dataclass(frozen=True)
class S3Settings:
    """How this run reaches S3. `endpoint` is a URL (`http://127.0.0.1:9000`), None for AWS."""

    region: str
    endpoint: str | None
    path_style: bool
    max_attempts: int
    credentials: S3Credentials | None  # None: unsigned requests

    @property
    def endpoint_host(self) -> str | None:
        """The endpoint as `host[:port]`, without its scheme."""
        return urlsplit(self.endpoint).netloc if self.endpoint else None

    @property
    def use_ssl(self) -> bool:
        return not (self.endpoint or "").lower().startswith("http://")

    def describe(self) -> str:
        """For the log: where and how, never the credentials."""
        where = self.endpoint or "AWS"
        who = "signed" if self.credentials else "unsigned (no AWS credentials found)"
        style = "path" if self.path_style else "virtual-host"
        return (
            f"S3 at {where} (region {self.region}), {style} addressing, requests {who}, "
            f"up to {self.max_attempts} attempts per request"
        )

    def fsspec_options(self) -> dict[str, Any]:
        """s3fs's options: these settings, botocore's standard retries, and no cached
        listings or file system instances (a run sees the bucket as it is now)."""
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "client_kwargs": {"region_name": self.region},
            "config_kwargs": {
                "retries": {"mode": "standard", "max_attempts": self.max_attempts},
                "s3": {"addressing_style": "path" if self.path_style else "virtual"},
                "connect_timeout": TIMEOUT_SECONDS,
                "read_timeout": TIMEOUT_SECONDS,
            },
            "default_block_size": _BLOCK,
            "skip_instance_cache": True,
            "use_listings_cache": False,
        }
        if self.credentials is None:
            options["anon"] = True
        else:
            options.update(
                key=self.credentials.key_id,
                secret=self.credentials.secret,
                token=self.credentials.token,
            )
        return options


def resolve_s3_settings() -> S3Settings:
    """The S3 settings of the environment and the shared AWS files (see the module's text).
    Raises S3SetupError naming what is wrong (never a credential)."""
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session()
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        scoped = session.get_scoped_config()
        region = (
            os.environ.get("AWS_REGION") or session.get_config_variable("region") or DEFAULT_REGION
        )
        attempts = session.get_config_variable("max_attempts") or DEFAULT_ATTEMPTS
        endpoint = _configured_endpoint(session, scoped)
    except botocore.exceptions.BotoCoreError as err:
        raise S3SetupError(
            f"the AWS settings cannot be read ({first_line(str(err))}); check AWS_PROFILE and "
            "the shared config and credentials files"
        ) from err
    style = (scoped.get("s3") or {}).get("addressing_style", "auto")
    return S3Settings(
        region=region,
        endpoint=endpoint,
        path_style=style == "path" or (style != "virtual" and endpoint is not None),
        max_attempts=max(1, int(attempts)),
        credentials=(
            S3Credentials(
                frozen.access_key,
                frozen.secret_key,
                frozen.token,
                source=getattr(credentials, "method", "") or "",
                profile=session.profile,
            )
            if frozen is not None and frozen.access_key
            else None
        ),
    )


def _configured_endpoint(session: Any, scoped: dict[str, Any]) -> str | None:
    """The S3 endpoint the environment or the profile configures, as botocore orders them."""
    ignore = os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") or scoped.get(
        "ignore_configured_endpoint_urls", ""
    )
    if str(ignore).lower() in _TRUE:
        return None
    for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if os.environ.get(variable):
            return os.environ[variable].rstrip("/")
    services = session.full_config.get("services", {}).get(scoped.get("services", ""), {})
    found = (services.get("s3") or {}).get("endpoint_url") or scoped.get("endpoint_url")
    return found.rstrip("/") if found else None


class S3CredentialsError(RuntimeError):
    """S3 rejected the run's AWS credentials (an unknown access key id, a wrong secret), or
    refused a request without saying why; the message names the settings to check."""


class ConditionalWriteError(RuntimeError):
    """A conditional write refused: the object is not as the writer last read it."""


class S3Files(FsspecFiles):
    """s3:// objects and prefixes through s3fs with the run's settings (a folder is a
    prefix). Failures name the object: a missing one FileNotFoundError, a refused one
    PermissionError, rejected credentials S3CredentialsError, an endpoint that cannot be
    reached or a request still failing after the retries StoreUnavailableError."""

    def __init__(self, settings: S3Settings) -> None:
        super().__init__({"s3": settings.fsspec_options()})
        self._attempts = settings.max_attempts
        self._settings = settings

    def bucket_exists(self, bucket: str) -> bool:
        """Whether the bucket of the s3:// URI `bucket` exists (one HEAD request). Unlike
        `exists`, a failure is not taken for "no": StoreUnavailableError when the endpoint
        cannot be reached, S3CredentialsError when the credentials are refused."""
        fs, root = self._fs(bucket)
        with self._failing(bucket):
            try:
                fs.call_s3("head_bucket", Bucket=fs.split_path(root)[0])
            except FileNotFoundError:
                return False
        return True

    def _fs(self, path: str) -> tuple[fsspec.AbstractFileSystem, str]:
        fs, root = super()._fs(path)
        fs.retries = 1  # botocore retries each request; s3fs's own loop would multiply them
        return fs, root

    def stat(self, path: str) -> FileEntry:
        with self._failing(path):
            return super().stat(path)

    def list_files(self, folder: str) -> list[FileEntry]:
        with self._failing(folder):
            return super().list_files(folder)

    def open(self, path: str) -> BinaryIO:
        with self._failing(path):
            return _Reader(super().open(path), path, self._failing)

    def exists(self, path: str) -> bool:
        with self._failing(path):
            return super().exists(path)

    def create(self, path: str) -> BinaryIO:
        with self._failing(path):
            return super().create(path)

    def rename(self, source: str, target: str) -> None:
        with self._failing(source):
            super().rename(source, target)

    def remove(self, path: str) -> None:
        with self._failing(path):
            super().remove(path)

    def read_tagged(self, path: str) -> tuple[bytes, str] | None:
        """The object's bytes and its ETag, None when there is no object. The ETag is read
        first: a write in between makes a later If-Match with it fail, never pass wrongly."""
        head = self._head(path)
        if head is None:
            return None
        fs, root = self._fs(path)
        with self._failing(path):
            return fs.cat_file(root), head["ETag"]

    def write_if(self, path: str, data: bytes, etag: str | None) -> str:
        """`data` at `path` in one request, only if the object there still has `etag`
        (`If-Match`) or, when `etag` is None, only if there is none (`If-None-Match: *`);
        returns the new ETag. ConditionalWriteError when S3 refuses (412 Precondition
        Failed, or 409 for a conflicting write meanwhile)."""
        fs, root = self._fs(path)
        bucket, key, _ = fs.split_path(root)
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            answer = fs.call_s3(
                "put_object", Bucket=bucket, Key=key, Body=data,
                ContentType="application/json", **condition,
            )  # fmt: skip
        except Exception as err:
            if _refused_condition(err):
                raise ConditionalWriteError(f"{path} changed meanwhile") from err
            with self._failing(path):
                raise
        fs.invalidate_cache(root)
        return str(answer.get("ETag", ""))

    def written_at(self, path: str, etag: str) -> dt.datetime | None:
        """When the object at `path` was last written (its `LastModified`, whole seconds, by
        the store's clock), if it still has `etag`; None when it has another or is missing.
        One HEAD request: the time and the ETag are of the same object."""
        head = self._head(path)
        return head["LastModified"] if head is not None and head["ETag"] == etag else None

    def _head(self, path: str) -> dict | None:
        """The object's HEAD answer (ETag, LastModified, ...), None when there is no object."""
        fs, root = self._fs(path)
        bucket, key, _ = fs.split_path(root)
        with self._failing(path):
            try:
                return fs.call_s3("head_object", Bucket=bucket, Key=key)
            except FileNotFoundError:
                return None

    @contextmanager
    def _failing(self, path: str) -> Iterator[None]:
        """botocore's errors (a reset, a timeout, throttling past the retries), which s3fs
        passes on as they are, and the other OSErrors it makes of S3's answers, as one
        StoreUnavailableError naming the object."""
        import botocore.exceptions

        try:
            yield
        except FileNotFoundError:
            raise
        except PermissionError as err:
            rejected = rejected_credentials(path, err, self._settings)
            if rejected is None:
                raise
            raise S3CredentialsError(rejected) from err
        except (OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            # an endpoint nobody answers on: "Could not connect to the endpoint URL: <url>"
            raise StoreUnavailableError(unavailable(path, self._attempts, _reason(err))) from err


def unavailable(path: str, attempts: int, reason: str) -> str:
    """The one line for an S3 object whose request still failed after every attempt."""
    return (
        f"{path}: the S3 request failed {attempts} times ({reason}): the store is unreachable "
        "or throttling; check the endpoint and the network, or try again later"
    )


_REJECTED_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch")


def rejected_credentials(path: str, err: BaseException, settings: S3Settings) -> str | None:
    """The one line for S3 rejecting the credentials (InvalidAccessKeyId,
    SignatureDoesNotMatch, or a 403 without an error code, as a HEAD request gets); None for
    another refusal (AccessDenied: the credentials are valid but lack a permission)."""
    response = getattr(err, "response", None) or getattr(err.__cause__, "response", None)
    if not isinstance(response, dict):
        return None
    code = (response.get("Error") or {}).get("Code", "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    check = (
        settings.credentials.where()
        if settings.credentials is not None
        else "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE (none were found: "
        "requests went unsigned)"
    )
    if code in _REJECTED_CODES:
        return f"{path}: S3 rejected the AWS credentials ({code}); check {check}"
    if status == 403 and code in ("", "403"):
        return (
            f"{path}: access denied (HTTP 403): the AWS credentials were refused or lack "
            f"permission; check {check}"
        )
    return None


_CONDITION_CODES = ("PreconditionFailed", "ConditionalRequestConflict")


def _refused_condition(err: BaseException | None) -> bool:
    """Whether S3 refused a conditional write: 412 PreconditionFailed, or 409
    ConditionalRequestConflict (s3fs passes them on as OSErrors caused by botocore's)."""
    seen = 0
    while err is not None and seen < 5:
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code", "")
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if code in _CONDITION_CODES or status in (409, 412):
                return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _reason(err: BaseException) -> str:
    """What S3 answered (`HTTP 503 SlowDown`), or what went wrong on the way."""
    response = getattr(err, "response", None) or getattr(err.__cause__, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        code = response["Error"].get("Code", "")
        return " ".join(["HTTP", status] + ([code] if code and code != status else []))
    return first_line(str(err)) or type(err).__name__


class _Reader(io.RawIOBase):
    """An s3fs file whose read errors are OSErrors naming the object."""

    def __init__(self, file: Any, path: str, failing: Callable[[str], Any]) -> None:
        self._file, self._path, self._failing = file, path, failing

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._failing(self._path):
            data = self._file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    @property
    def size(self) -> int:
        return self._file.size

    def close(self) -> None:
        self._file.close()
        super().close()
