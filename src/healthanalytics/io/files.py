"""File access for the driver: finding inputs (what a path holds, file sizes, a file's first
bytes) and placing outputs (creating, moving and removing files and folders).

The engine picks the implementation (`Engine.file_access`, `Engine.output_access`): fsspec here,
for local paths and the URLs fsspec knows; the Spark engine's URIs go through Hadoop
(`engines/spark/files.py`).
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

import fsspec
from fsspec.implementations.local import LocalFileSystem

from healthanalytics.errors import first_line

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def uri_scheme(path: str) -> str | None:
    """The URI scheme of `path` (`s3a` for `s3a://bucket/key`), None for a plain local path."""
    match = _SCHEME.match(path)
    return match[1].lower() if match else None


def join_path(folder: str, name: str) -> str:
    """`name` inside `folder`, a local path or a URI (`viewfs://test/out` + `x`: `.../out/x`)."""
    return posixpath.join(folder, name)


def split_path(path: str) -> tuple[str, str]:
    """The folder holding `path` and its last name, for a local path or a URI."""
    return posixpath.split(path.rstrip("/"))


@dataclass(frozen=True)
class FileEntry:
    """A file or folder: its path as an engine reads it, its size in bytes, whether a folder,
    and when it was last written by the store's clock (UTC; S3's `LastModified`, in whole
    seconds), when the file system tells."""

    path: str
    size: int
    is_dir: bool = False
    modified: dt.datetime | None = field(default=None, compare=False)  # not what the file is


class StoreUnavailableError(RuntimeError):
    """A remote store (S3, ...) that cannot be reached, or keeps failing past its retries. Not
    an OSError: the file is not at fault, so nothing takes it for a truncated or corrupt one.
    The message names the object and what to do."""


class FileAccess(Protocol):
    """What finding inputs and placing outputs need of a file system. A missing path raises
    FileNotFoundError, a refused one PermissionError, a store that cannot be reached
    StoreUnavailableError, anything else an OSError whose message says what went wrong."""

    def stat(self, path: str) -> FileEntry:
        """The file or folder at `path`."""
        ...

    def list_files(self, folder: str) -> list[FileEntry]:
        """Every file below `folder`, at any depth (folders themselves left out)."""
        ...

    def open(self, path: str) -> BinaryIO:
        """The file as a seekable binary file object."""
        ...

    def exists(self, path: str) -> bool:
        """Whether a file or folder is at `path`."""
        ...

    def create(self, path: str) -> BinaryIO:
        """A new file at `path` to write, replacing any file there; missing folders are made."""
        ...

    def rename(self, source: str, target: str) -> None:
        """`source`, a file or a folder, moved to `target`, which must not exist (when it does,
        file systems differ: HDFS refuses, POSIX replaces a file, both move into a folder)."""
        ...

    def replace(self, source: str, target: str) -> None:
        """The file `source` moved to `target`, replacing any file there: in one step where the
        file system can (a local rename), else by removing `target` first."""
        ...

    def remove(self, path: str) -> None:
        """The file or folder at `path` removed with all it holds; nothing to do when missing."""
        ...


class FsspecFiles:
    """Local paths and the URLs fsspec knows (`file://`, `memory://`, `s3://` with s3fs, ...).
    `options` are the file systems' own, by URI scheme (`{"s3": {"endpoint_url": ...}}`)."""

    def __init__(self, options: dict[str, dict[str, Any]] | None = None) -> None:
        self._options = options or {}
        self._systems: dict[str, fsspec.AbstractFileSystem] = {}  # the configured ones, made once

    def _fs(self, path: str) -> tuple[fsspec.AbstractFileSystem, str]:
        scheme = uri_scheme(path) or ""
        if (fs := self._systems.get(scheme)) is not None:
            return fs, fs._strip_protocol(path)
        fs, root = _filesystem(path, self._options.get(scheme))
        if scheme in self._options:
            self._systems[scheme] = fs
        return fs, root

    def stat(self, path: str) -> FileEntry:
        fs, root = self._fs(path)
        info = fs.info(root)
        return FileEntry(path, info.get("size") or 0, info["type"] == "directory", _modified(info))

    def list_files(self, folder: str) -> list[FileEntry]:
        fs, root = self._fs(folder)
        scheme = uri_scheme(folder)
        found = fs.find(root, detail=True)
        # most fsspec file systems drop the scheme from the paths they find; engines need it
        return [
            FileEntry(
                f"{scheme}://{name}" if scheme and "://" not in name else name,
                info["size"],
                modified=_modified(info),
            )
            for name, info in found.items()
            if info["type"] == "file"
        ]

    def open(self, path: str) -> BinaryIO:
        fs, root = self._fs(path)
        return fs.open(root, "rb")

    def exists(self, path: str) -> bool:
        fs, root = self._fs(path)
        return fs.exists(root)

    def create(self, path: str) -> BinaryIO:
        fs, root = self._fs(path)
        fs.makedirs(posixpath.dirname(root), exist_ok=True)
        return fs.open(root, "wb")

    def rename(self, source: str, target: str) -> None:
        fs, root = self._fs(source)
        fs.mv(root, self._fs(target)[1], recursive=True)

    def replace(self, source: str, target: str) -> None:
        fs, root = self._fs(source)
        if isinstance(fs, LocalFileSystem):
            os.replace(root, self._fs(target)[1])
            return
        self.remove(target)
        self.rename(source, target)

    def remove(self, path: str) -> None:
        fs, root = self._fs(path)
        if fs.exists(root):
            fs.rm(root, recursive=True)


def _modified(info: dict[str, Any]) -> dt.datetime | None:
    """When a file was last written (UTC), from fsspec's details: `LastModified` (s3fs),
    `mtime` (local), `created` (memory, which sets it on every write); None when not given."""
    for key in ("LastModified", "mtime", "created"):
        value = info.get(key)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC)
    return None


def _filesystem(
    path: str, options: dict[str, Any] | None = None
) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        return fsspec.core.url_to_fs(path, **(options or {}))
    except (ValueError, ImportError, OSError) as err:
        raise OSError(
            f"no file system here reads {uri_scheme(path)}:// URIs ({first_line(str(err))})"
        ) from err


def check_reachable(path: str) -> None:
    """An OSError when no file system fsspec offers here reads `path` (an unknown scheme, or
    one whose package is not installed)."""
    _filesystem(path)


LOCAL_FILES = FsspecFiles()
