"""Where a run writes its outputs and how they become visible: one staging and publish
mechanism, chosen by what the output's file access offers, owned by the pipeline.

- A local folder (or a cluster file system the Spark engine reaches through Hadoop): each
  report folder is written under a hidden sibling and renamed in place (`StagedFolder`,
  `_SUCCESS` inside); `quality_checks.json` is moved in likewise.
- An object store with conditional writes (S3: no rename, a copy-then-delete "move" can be
  seen half done): the pattern of Hadoop's S3A committers, Iceberg and Delta. Every run writes
  under a prefix of its own, `<output>/runs/<delivery_date>/<run_id>/` (the report folders,
  `quality_checks.json`, the launch brief), then `manifest.json` there last (every file: its
  key, bytes and SHA-256; each report's rows; what became of the brief), then switches the
  delivery date's pointer `<output>/deliveries/<delivery_date>.json` to it with a conditional
  write: `If-None-Match: *` when the date had no pointer when the run started,
  `If-Match: <the ETag read then>` when it had one. A run whose pointer changed meanwhile
  (another writer published the date) is refused in one line and changes nothing visible.
  After the switch, the run prefixes of the date beyond the last `keep_runs` published ones
  are removed, but only those of runs that can no longer publish
  (`PointerOutput._remove_old_runs`).

Single files (the launch brief's page, charts and tables) are written through the place too
(`write_file`): locally under a hidden temporary name and moved in, on S3 straight into the
run's prefix, which no reader sees before the pointer names it.

A reader reads the pointer, then the manifest it names, then the files the manifest lists;
never a listing of `runs/`, which holds runs still writing or stopped (`read_delivery` does
this, for other programs too).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import posixpath
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from healthanalytics.io.files import FileAccess, StoreUnavailableError, join_path
from healthanalytics.io.report_files import (
    SUCCESS,
    ReportFileError,
    StagedFolder,
    run_tag,
    staging_name,
)

log = logging.getLogger(__name__)

RUNS = "runs"
DELIVERIES = "deliveries"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "healthanalytics-delivery/1"
_HASH_CHUNK = 8 << 20


class StalePublishError(RuntimeError):
    """Another run published the same delivery date after this run started: this run's
    outputs are not published (the other run's delivery stays visible)."""


class IncompleteDeliveryError(RuntimeError):
    """A published delivery whose manifest lists a file that is missing, or of another size or
    SHA-256: a run never publishes one (its pointer is switched after every file and the
    manifest are written), so something removed or changed the run's files since."""


@runtime_checkable
class ConditionalStore(Protocol):
    """A FileAccess that can read an object with its ETag and write one conditionally
    (io/s3.py `S3Files`); such outputs are published by pointer, not by rename."""

    def read_tagged(self, path: str) -> tuple[bytes, str] | None: ...

    def write_if(self, path: str, data: bytes, etag: str | None) -> str: ...

    def written_at(self, path: str, etag: str) -> dt.datetime | None: ...


class ReportPlace(Protocol):
    """A report folder being written: the engine fills `path`; `publish` checks (and, locally,
    moves it in as `dest`); `discard` removes what was not published."""

    @property
    def dest(self) -> str: ...

    @property
    def path(self) -> str: ...

    def publish(self) -> None: ...

    def discard(self) -> None: ...


class OutputPlace(Protocol):
    """Where one run writes its outputs (`folder`) and how they become visible."""

    folder: str

    def report_folder(self, name: str) -> ReportPlace: ...

    def write_file(self, name: str, data: bytes) -> str: ...

    def discard_files(self, paths: list[str]) -> None: ...

    def remove_earlier(self, names: list[str]) -> None: ...

    def check_current(self) -> None: ...

    def publish(self, rows: dict[str, int], brief: str = "") -> None: ...

    def outputs(self, names: list[str]) -> dict[str, str]: ...


@dataclass(frozen=True)
class LocalOutput:
    """The output folder itself: reports staged beside their place and renamed in."""

    folder: str
    files: FileAccess

    def report_folder(self, name: str) -> ReportPlace:
        return StagedFolder(join_path(self.folder, name), self.files)

    def write_file(self, name: str, data: bytes) -> str:
        """`data` at `<folder>/<name>` (a path below the folder, `charts/x.png`), written
        under a hidden temporary name beside it and moved in: never seen half-written; created
        as any file is (the umask's mode). Returns its path."""
        path = join_path(self.folder, name)
        parent, base = posixpath.split(path)
        tmp = join_path(parent, staging_name(base, run_tag()))
        try:
            with self.files.create(tmp) as out:
                out.write(data)
            self.files.replace(tmp, path)
        except BaseException:
            with suppress(OSError):  # must not hide the error of the write
                self.files.remove(tmp)
            raise
        return path

    def discard_files(self, paths: list[str]) -> None:
        """The files removed again (a brief that failed half way: the folder shows none
        rather than part of one); a failure to remove is logged, not raised."""
        _remove_logged(self.files, paths)

    def remove_earlier(self, names: list[str]) -> None:
        """`<folder>/<name>` of each name (a file or a folder) removed: what an earlier run
        wrote there and this one will not replace (its launch brief), so the folder never
        shows it beside this run's reports."""
        _remove_logged(self.files, [join_path(self.folder, name) for name in names])

    def check_current(self) -> None:
        """Nothing to check: the output folder's lock keeps other runs out."""

    def publish(self, rows: dict[str, int], brief: str = "") -> None:
        """Nothing more: the report folders moved in themselves."""

    def outputs(self, names: list[str]) -> dict[str, str]:
        return {name: join_path(self.folder, name) for name in names}


@dataclass
class RunFolder:
    """A report folder inside a run's own prefix: written in place (nothing else reads it
    before the pointer names the run); its `_SUCCESS` is checked when the manifest is made."""

    dest: str
    files: FileAccess
    published: bool = False

    @property
    def path(self) -> str:
        return self.dest

    def publish(self) -> None:
        self.published = True  # kept from now on: the pointer may name it

    def discard(self) -> None:
        if not self.published:
            with suppress(OSError):  # must not hide the error that stopped the run
                self.files.remove(self.dest)


@dataclass
class PointerOutput:
    """A run's outputs on an object store, published by switching the date's pointer (see
    the module's text). The pointer is read when this is made, at the start of the run."""

    output: str
    delivery_date: dt.date
    run_id: str
    files: Any  # a FileAccess that is a ConditionalStore
    keep_runs: int = 2
    _etag: str | None = field(default=None, init=False)
    _previous: dict[str, Any] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        found = self.files.read_tagged(self.pointer)
        if found is not None:
            self._previous, self._etag = json.loads(found[0]), found[1]

    @property
    def pointer(self) -> str:
        return join_path(self.output, f"{DELIVERIES}/{self.delivery_date.isoformat()}.json")

    @property
    def runs(self) -> str:
        """The prefix holding the delivery date's runs."""
        return join_path(self.output, f"{RUNS}/{self.delivery_date.isoformat()}")

    @property
    def folder(self) -> str:
        return join_path(self.runs, self.run_id)

    def report_folder(self, name: str) -> ReportPlace:
        return RunFolder(join_path(self.folder, name), self.files)

    def write_file(self, name: str, data: bytes) -> str:
        """`data` at `<run prefix>/<name>`, in place: no reader sees the prefix before the
        pointer names it. Returns its path."""
        path = join_path(self.folder, name)
        with self.files.create(path) as out:
            out.write(data)
        return path

    def discard_files(self, paths: list[str]) -> None:
        """The files removed again (a brief that failed half way), so the manifest does not
        list them; a failure to remove is logged (it would hide the error being handled)."""
        _remove_logged(self.files, paths)

    def remove_earlier(self, names: list[str]) -> None:
        """Nothing: the run's prefix is its own, no earlier run wrote there."""

    def check_current(self) -> None:
        """StalePublishError when the pointer is no longer the one read at the start (asked
        before the warehouse commits, so a stale run usually stops before it)."""
        self._refuse_if_moved()

    def _refuse_if_moved(self) -> None:
        found = self.files.read_tagged(self.pointer)
        if (found[1] if found else None) != self._etag:
            raise self._stale()

    def publish(self, rows: dict[str, int], brief: str = "") -> None:
        """`manifest.json` written last into the run's prefix, then the pointer switched to it
        (conditionally), then the runs beyond `keep_runs` removed. `brief` is what became of
        the launch brief (`written`, or `not written: why`), kept in the manifest."""
        manifest = self._manifest(rows, brief)
        keys = {entry["key"] for entry in manifest["files"]}
        for name in rows:
            if f"{name}/{SUCCESS}" not in keys:
                # a run that published the date meanwhile removes the prefixes it does not keep
                self._refuse_if_moved()
                raise ReportFileError(
                    f"{join_path(self.folder, name)}: the writer finished without a {SUCCESS} "
                    "marker"
                )
        self.files.write_if(join_path(self.folder, MANIFEST), _json(manifest), None)
        kept = [self.run_id, *(self._previous or {}).get("kept_runs", [])][: self.keep_runs]
        pointer = {
            "format": MANIFEST_FORMAT,
            "delivery_date": self.delivery_date.isoformat(),
            "run_id": self.run_id,
            "manifest": f"{RUNS}/{self.delivery_date.isoformat()}/{self.run_id}/{MANIFEST}",
            "published_at": manifest["created_at"],
            "kept_runs": kept,
        }
        from healthanalytics.io.s3 import ConditionalWriteError

        try:
            etag = self.files.write_if(self.pointer, _json(pointer), self._etag)
        except ConditionalWriteError as err:
            # a retried request whose first try went through is refused by its own write
            found = self.files.read_tagged(self.pointer)
            if found is None or json.loads(found[0]).get("run_id") != self.run_id:
                raise self._stale() from err
            etag = found[1]
        log.info("delivery %s published: %s names run %s", self.delivery_date, self.pointer,
                 self.run_id)  # fmt: skip
        self._remove_old_runs(set(kept), etag)

    def outputs(self, names: list[str]) -> dict[str, str]:
        return {"delivery": self.pointer, **{n: join_path(self.folder, n) for n in names}}

    def _stale(self) -> StalePublishError:
        return StalePublishError(
            f"{self.pointer} changed after this run started: another run published delivery "
            f"{self.delivery_date} meanwhile, so this run's outputs ({self.folder}) were not "
            "published and that run's delivery stays visible; run again to replace it"
        )

    def _manifest(self, rows: dict[str, int], brief: str) -> dict[str, Any]:
        """Every file of the run's prefix (hidden names left out), read back from the store:
        the key below the prefix, its bytes and SHA-256."""
        prefix = self.folder.rstrip("/") + "/"
        entries = []
        for entry in sorted(self.files.list_files(self.folder), key=lambda e: e.path):
            key = entry.path.split(prefix.split("://", 1)[-1], 1)[-1]
            if posixpath.basename(key).startswith(".") or key == MANIFEST:
                continue
            entries.append({"key": key, "bytes": entry.size, "sha256": self._sha256(entry.path)})
        return {
            "format": MANIFEST_FORMAT,
            "delivery_date": self.delivery_date.isoformat(),
            "run_id": self.run_id,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "reports": {name: {"rows": count} for name, count in rows.items()},
            "launch_brief": brief,
            "files": entries,
        }

    def _sha256(self, path: str) -> str:
        return _sha256(self.files, path)

    def _remove_old_runs(self, kept: set[str], etag: str) -> None:
        """The date's run prefixes that the pointer does not keep and whose run can no longer
        publish, removed (older published runs, runs that failed or were stopped, runs refused
        as stale); a failure is a warning: the delivery is published.

        A prefix not kept is removed only when one of its files was written before this run's
        pointer switch, by the store's own clock (S3's `LastModified` of the files and of the
        pointer, in whole seconds): a run reads the pointer when it starts, before it writes
        anything, so such a run read it before the switch and its conditional write is refused.
        A prefix whose files are all as new as the switch or newer is a run that started after
        it (on another warehouse: the delivery-date lock does not keep it out) and may still
        publish: it is left for the sweep after a later publish. When the pointer no longer
        has this run's `etag` (another run published since), nothing is removed: that run's
        sweep will, and its own prefix is not in this run's kept list."""
        prefix = self.runs.rstrip("/").split("://", 1)[-1] + "/"
        try:
            switched = self.files.written_at(self.pointer, etag)
            if switched is None:
                log.info("old runs of delivery %s left: the pointer changed again since this "
                         "run's switch", self.delivery_date)  # fmt: skip
                return
            oldest: dict[str, dt.datetime | None] = {}
            for entry in self.files.list_files(self.runs):
                run_id = entry.path.split(prefix, 1)[-1].split("/", 1)[0]
                when = oldest.get(run_id, entry.modified)
                oldest[run_id] = min(when, entry.modified) if when and entry.modified else None
            for run_id in sorted(set(oldest) - kept):
                when = oldest[run_id]
                if when is None or when >= switched:
                    log.info("run %s of delivery %s left: written since this run's publish, it "
                             "may still be publishing", run_id, self.delivery_date)  # fmt: skip
                    continue
                self.files.remove(join_path(self.runs, run_id))
                log.info("removed run %s of delivery %s (beyond the last %d kept)", run_id,
                         self.delivery_date, self.keep_runs)  # fmt: skip
        except (OSError, StoreUnavailableError) as err:
            log.warning("old runs of delivery %s not removed: %s", self.delivery_date, err)


@dataclass(frozen=True)
class PublishedDelivery:
    """One delivery found through its pointer: the pointer, the manifest it names, and the
    prefix of the run they name (`<output>/runs/<delivery_date>/<run_id>`)."""

    pointer: dict[str, Any]
    manifest: dict[str, Any]
    folder: str

    @property
    def run_id(self) -> str:
        return str(self.pointer["run_id"])

    def paths(self, report: str | None = None) -> list[str]:
        """The full paths of the files the manifest lists, in its order; only those of
        `report` (a report folder's name, e.g. `city_report`) when given, `_SUCCESS` left out."""
        keys = [entry["key"] for entry in self.manifest["files"]]
        if report is not None:
            keys = [k for k in keys if k.startswith(f"{report}/") and not k.endswith(SUCCESS)]
        return [join_path(self.folder, key) for key in keys]


def read_delivery(
    output: str,
    delivery_date: dt.date | str,
    files: FileAccess | None = None,
    *,
    checksums: bool = False,
) -> PublishedDelivery | None:
    """The delivery `delivery_date` (a date or YYYY-MM-DD) of a pointer-published `output`
    (an s3:// prefix), read the way a reader must: the pointer
    `<output>/deliveries/<date>.json`, then the manifest it names, then one listing of the
    run's prefix, checking every file the manifest lists is there with the listed bytes (and,
    with `checksums`, SHA-256, which reads every file). None when the date was never published.

    `files`: the store's FileAccess; default, for an s3:// output, S3Files with the standard
    AWS settings of the environment (io/s3.py). Raises IncompleteDeliveryError when a listed
    file is missing or differs, StoreUnavailableError when S3 cannot be reached past its
    retries, ValueError for an output that is not published by pointer (a local folder's
    report folders are read in place)."""
    if files is None:
        if not output.startswith("s3://"):
            raise ValueError(
                f"{output}: deliveries are published by pointer on s3:// outputs only; read a "
                "local output's report folders in place"
            )
        from healthanalytics.io.s3 import S3Files, resolve_s3_settings

        files = S3Files(resolve_s3_settings())
    day = delivery_date if isinstance(delivery_date, str) else delivery_date.isoformat()
    found = _read_whole(files, join_path(output, f"{DELIVERIES}/{day}.json"))
    if found is None:
        return None
    pointer = json.loads(found)
    manifest_path = join_path(output, pointer["manifest"])
    manifest_bytes = _read_whole(files, manifest_path)
    if manifest_bytes is None:
        raise IncompleteDeliveryError(
            f"{manifest_path}: the manifest the pointer of delivery {day} names is missing"
        )
    manifest = json.loads(manifest_bytes)
    delivery = PublishedDelivery(pointer, manifest, posixpath.dirname(manifest_path))
    prefix = delivery.folder.split("://", 1)[-1].rstrip("/") + "/"
    sizes = {
        entry.path.split("://", 1)[-1].removeprefix(prefix): entry.size
        for entry in files.list_files(delivery.folder)
    }
    for entry in manifest["files"]:
        where = join_path(delivery.folder, entry["key"])
        if entry["key"] not in sizes:
            raise IncompleteDeliveryError(
                f"{where}: listed in the manifest of delivery {day} (run {delivery.run_id}) "
                "but missing"
            )
        if sizes[entry["key"]] != entry["bytes"]:
            raise IncompleteDeliveryError(
                f"{where}: {sizes[entry['key']]} bytes, the manifest of delivery {day} lists "
                f"{entry['bytes']}"
            )
        if checksums and _sha256(files, where) != entry["sha256"]:
            raise IncompleteDeliveryError(
                f"{where}: its SHA-256 is not the one the manifest of delivery {day} lists"
            )
    return delivery


def _read_whole(files: FileAccess, path: str) -> bytes | None:
    """The object's bytes from one GET (None when missing): s3fs's `open` checks the ETag it
    read first on every later read, so a pointer switched in between fails the read."""
    if isinstance(files, ConditionalStore):
        found = files.read_tagged(path)
        return None if found is None else found[0]
    try:
        with files.open(path) as source:
            return source.read()
    except FileNotFoundError:
        return None


def _sha256(files: FileAccess, path: str) -> str:
    digest = hashlib.sha256()
    with files.open(path) as source:
        while chunk := source.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _json(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()


def open_output(
    output: str, files: FileAccess, delivery_date: dt.date, run_id: str, keep_runs: int
) -> OutputPlace:
    """Where this run writes: a PointerOutput when `files` writes conditionally (S3), the
    output folder itself otherwise."""
    if isinstance(files, ConditionalStore):
        return PointerOutput(output, delivery_date, run_id, files, keep_runs)
    return LocalOutput(output, files)


def _remove_logged(files: FileAccess, paths: list[str]) -> None:
    """Each path removed; a failure is logged, not raised (it would hide the error being
    handled, or fail a run over a file it only tidies)."""
    for path in paths:
        try:
            files.remove(path)
        except OSError as err:
            log.warning("%s not removed: %s", path, err)
