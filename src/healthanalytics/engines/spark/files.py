"""Spark's inputs and outputs seen from the driver through Hadoop's FileSystem API (over py4j):
any URI the cluster's Hadoop configuration reaches (hdfs://, s3a://, gs://, viewfs://...), listed,
opened, written, moved and removed with the same connectors and settings Spark's executors use."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from healthanalytics.errors import first_line
from healthanalytics.io.files import FileAccess, FileEntry, join_path, split_path, uri_scheme

# the connector that brings each common scheme's FileSystem; {hadoop} is this Hadoop's version
_CONNECTORS = {
    "s3a": "hadoop-aws (--spark-conf spark.jars.packages=org.apache.hadoop:hadoop-aws:{hadoop})",
    "gs": "the GCS connector (com.google.cloud.bigdataoss:gcs-connector, shaded jar)",
    "abfs": "hadoop-azure (org.apache.hadoop:hadoop-azure:{hadoop})",
    "abfss": "hadoop-azure (org.apache.hadoop:hadoop-azure:{hadoop})",
    "wasb": "hadoop-azure (org.apache.hadoop:hadoop-azure:{hadoop})",
    "wasbs": "hadoop-azure (org.apache.hadoop:hadoop-azure:{hadoop})",
}
# what Hadoop throws when no FileSystem class is known or loadable for a scheme
_NO_FILE_SYSTEM = {
    "org.apache.hadoop.fs.UnsupportedFileSystemException",
    "java.lang.ClassNotFoundException",
}
_DENIED = {
    "org.apache.hadoop.security.AccessControlException",  # HDFS
    "java.nio.file.AccessDeniedException",  # s3a
}


class HadoopFiles:
    """`FileAccess` through the session's Hadoop configuration."""

    def __init__(self, session: SparkSession) -> None:
        self._jvm = session.sparkContext._jvm
        self._conf = session.sparkContext._jsc.hadoopConfiguration()

    def stat(self, path: str) -> FileEntry:
        with _hadoop_errors():
            fs, where = self._filesystem(path)
            status = fs.getFileStatus(where)
            return FileEntry(path, status.getLen(), status.isDirectory())

    def list_files(self, folder: str) -> list[FileEntry]:
        with _hadoop_errors():
            fs, where = self._filesystem(folder)
            found = fs.listFiles(where, True)  # files only, at any depth
            entries = []
            while found.hasNext():
                status = found.next()
                entries.append(FileEntry(status.getPath().toString(), status.getLen()))
        return entries

    def open(self, path: str) -> io.RawIOBase:
        with _hadoop_errors():
            fs, where = self._filesystem(path)
            return _HadoopFile(fs, where, fs.open(where))

    def exists(self, path: str) -> bool:
        with _hadoop_errors():
            fs, where = self._filesystem(path)
            return bool(fs.exists(where))

    def create(self, path: str) -> io.RawIOBase:
        with _hadoop_errors():
            fs, where = self._filesystem(path)
            checksum = self._jvm.org.apache.hadoop.fs.Path(checksum_path(path))
            return _HadoopOutput(fs, fs.create(where, True), checksum)  # overwrite; folders made

    def rename(self, source: str, target: str) -> None:
        with _hadoop_errors():
            fs, where = self._filesystem(source)
            moved = fs.rename(where, self._jvm.org.apache.hadoop.fs.Path(target))
        if not moved:  # HDFS and others answer false instead of raising
            raise OSError(f"could not move {source} to {target}")

    def replace(self, source: str, target: str) -> None:
        # Hadoop's one-step rename over a file is FileContext's, which not every connector
        # offers; a report's small side file is worth no such dependency.
        self.remove(target)
        self.rename(source, target)

    def remove(self, path: str) -> None:
        with _hadoop_errors():
            fs, where = self._filesystem(path)
            fs.delete(where, True)  # false when nothing was there

    def _filesystem(self, path: str) -> tuple[Any, Any]:
        where = self._jvm.org.apache.hadoop.fs.Path(path)
        try:
            return where.getFileSystem(self._conf), where
        except Py4JJavaError as err:
            if not _thrown(err, _NO_FILE_SYSTEM):
                raise
            scheme = uri_scheme(path)
            hadoop = self._jvm.org.apache.hadoop.util.VersionInfo.getVersion()
            connector = _CONNECTORS.get(scheme or "")
            remedy = (
                f"add its connector to the cluster: {connector.format(hadoop=hadoop)}"
                if connector
                else "add the connector jar that provides it to the cluster, or check the URI"
            )
            raise OSError(
                f"the cluster's Hadoop has no file system for {scheme}:// — {remedy}"
            ) from err


class _HadoopFile(io.RawIOBase):
    """An FSDataInputStream as a seekable Python binary file; py4j hands Java's byte[] over as
    bytes. Unbuffered: sniffing reads four bytes, so nothing more crosses the gateway."""

    def __init__(self, fs: Any, where: Any, stream: Any) -> None:
        super().__init__()
        self._fs, self._where, self._stream = fs, where, stream

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with _hadoop_errors():
            data = self._stream.readNBytes(len(buffer))  # fewer only at the end of the file
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with _hadoop_errors():
            if whence == io.SEEK_CUR:
                offset += self._stream.getPos()
            elif whence == io.SEEK_END:
                offset += self._fs.getFileStatus(self._where).getLen()
            self._stream.seek(offset)
        return offset

    def tell(self) -> int:
        with _hadoop_errors():
            return self._stream.getPos()

    def close(self) -> None:
        if not self.closed:
            with _hadoop_errors():
                self._stream.close()
        super().close()


class _HadoopOutput(io.RawIOBase):
    """An FSDataOutputStream as a Python binary file to write; py4j hands bytes over as Java's
    byte[]. Unbuffered: callers write whole documents or compressed chunks."""

    def __init__(self, fs: Any, stream: Any, checksum: Any) -> None:
        super().__init__()
        self._fs, self._stream, self._checksum = fs, stream, checksum

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        with _hadoop_errors():
            self._stream.write(chunk)
        return len(chunk)

    def close(self) -> None:
        if self.closed:
            return
        try:
            with _hadoop_errors():
                self._stream.close()
                self._fs.delete(self._checksum, False)  # see drop_checksums
        finally:
            super().close()


def checksum_path(path: str) -> str:
    """Where Hadoop's local file system keeps the checksum of the file at `path`."""
    folder, name = split_path(path)
    return join_path(folder, f".{name}.crc")


def drop_checksums(files: FileAccess, folder: str) -> None:
    """Remove the hidden `.NAME.crc` file that Hadoop's local file system (file://, also behind
    a ViewFS link) writes beside each file, so an output folder holds the reports alone; HDFS
    and object stores keep checksums out of sight, so there is nothing to remove there."""
    for entry in files.list_files(folder):
        if not split_path(entry.path)[1].startswith("."):
            files.remove(checksum_path(entry.path))


def _causes(err: Py4JJavaError) -> Iterator[Any]:
    """The Java exception and the ones that caused it, outermost first."""
    thrown = err.java_exception
    while thrown is not None:
        yield thrown
        thrown = thrown.getCause()


def _thrown(err: Py4JJavaError, names: set[str]) -> bool:
    return any(cause.getClass().getName() in names for cause in _causes(err))


@contextlib.contextmanager
def _hadoop_errors() -> Iterator[None]:
    """Hadoop's exceptions as the Python ones input resolution turns into messages: only the
    exception's own message, never the configuration or the Java stack."""
    try:
        yield
    except Py4JJavaError as err:
        for cause in _causes(err):
            name = cause.getClass().getName()
            message = first_line(str(cause.getMessage() or "")) or name
            # the local file system reports an unreadable file as "(Permission denied)"
            if name in _DENIED or "Permission denied" in message:
                raise PermissionError(message) from err
            if name == "java.io.FileNotFoundException":
                raise FileNotFoundError(message) from err
        raise OSError(first_line(str(err.java_exception.toString()))) from err
