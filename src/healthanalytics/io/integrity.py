"""Inputs read to their end: a cut or corrupt compressed stream stops the run, naming the file.

An engine reads a compressed file as far as it can: DuckDB reads a gzip file cut at a line end
as a shorter file, and an error part-way through surfaces as a malformed row. So the driver
decompresses every compressed part once more, discarding the data, in a background thread while
the engine reads (the codecs run in C without Python's lock; DuckDB reads a gzip file on one
thread), and the run waits for it before it accepts what the engine read. Plain CSV and Parquet
inputs are not read twice; when reading a Parquet input fails, it is read through once more to
name the part that is corrupt.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from healthanalytics.errors import first_line
from healthanalytics.io.csv_lines import LONGEST_LINE, find_bad_line
from healthanalytics.io.files import FileAccess
from healthanalytics.io.inputs import (
    COMPRESSION_NAMES,
    CorruptInputError,
    InputError,
    InputFiles,
    compressed_stream_error,
)

log = logging.getLogger(__name__)

_CHUNK = 1 << 20  # decompressed bytes held at a time
_BLOCK = 4 << 20  # compressed bytes read at a time from an unbuffered file


def verify_compressed(
    files: InputFiles, access: FileAccess, stop: threading.Event | None = None
) -> list[str]:
    """Every part of a compressed input decompressed to its end (all its gzip members, bzip2 or
    zstd streams), holding a few megabytes at a time; CorruptInputError names the first
    part that is truncated or corrupt. Returns early once `stop` is set.

    Returns the CSV parts holding an odd number of `"` in all: in RFC 4180 every quoted value
    opens and closes (a doubled quote counts two), so such a part has a quote never closed, or
    a `"` inside an unquoted value (an ordinary character). An engine reading a compressed file
    whole could read the first as a value running to the end of the file. So are the parts
    holding a line that may be longer than LONGEST_LINE, which Spark reads and DuckDB does not."""
    odd: list[str] = []
    if files.compression is None:
        return odd
    count_quotes = files.format == "csv"
    for path in files.paths:
        try:
            raw = access.open(path)
        except OSError as err:
            raise InputError(f"{path} cannot be read again to check its data: {err}") from err
        # an unbuffered file (Hadoop's, over py4j) is read in big blocks: few gateway calls
        if isinstance(raw, io.RawIOBase):
            raw = io.BufferedReader(raw, _BLOCK)
        with raw:
            stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), files.compression)
            quotes = 0
            line = _LineLength()
            try:
                while (chunk := stream.read_buffer(_CHUNK)).size:
                    if count_quotes:
                        data = memoryview(chunk).tobytes()
                        quotes += data.count(b'"')
                        line.add(data)
                    if stop is not None and stop.is_set():
                        return odd
            except (OSError, EOFError, pa.ArrowException) as err:
                raise compressed_stream_error(path, files.compression, err) from err
            if quotes % 2 or line.longest >= LONGEST_LINE:
                odd.append(path)
    return odd


class _LineLength:
    """The longest line (in bytes, its line break aside) of data read chunk by chunk, counted
    only when it runs over a chunk's end: a chunk (at most _CHUNK) is shorter than LONGEST_LINE."""

    def __init__(self) -> None:
        self.longest = 0
        self._open = 0  # bytes of the line the last chunk ended in

    def add(self, data: bytes) -> None:
        breaks = [at for at in (data.find(b"\n"), data.find(b"\r")) if at >= 0]
        if not breaks:
            self._open += len(data)
        else:
            self.longest = max(self.longest, self._open + min(breaks))
            self._open = len(data) - 1 - max(data.rfind(b"\n"), data.rfind(b"\r"))
        self.longest = max(self.longest, self._open)


def verify_parquet(files: InputFiles, access: FileAccess) -> None:
    """Every row of every part of a Parquet input decoded, a row group's pages at a time;
    CorruptInputError names the first part that cannot be read."""
    import pyarrow.parquet as pq

    for path in files.paths:
        with access.open(path) as handle:
            try:
                parquet = pq.ParquetFile(handle, buffer_size=_CHUNK, pre_buffer=False)
                for _ in parquet.iter_batches(batch_size=64 * 1024):
                    pass
            except (OSError, ValueError, pa.ArrowException) as err:
                raise CorruptInputError(
                    f"{path} is corrupt: its Parquet data cannot be read "
                    f"({first_line(str(err)) or type(err).__name__}); download or copy the file "
                    "again"
                ) from err


class InputCheck:
    """The inputs' integrity, checked beside the engine's read: compressed inputs are verified
    in background threads (one per input) from the start; Parquet inputs, whose every page the
    engine decodes anyway, only once a read has failed (`failure_cause`)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._faults: list[BaseException | None] = []
        self._parquet: list[tuple[InputFiles, FileAccess]] = []
        # compressed CSV parts with an odd number of quotes, to read through once accepted
        self._odd: list[tuple[InputFiles, FileAccess, int, list[str]]] = []
        self._accepted = False  # `wait` found every input whole

    def start(self, files: InputFiles, access: FileAccess, columns: int = 0) -> None:
        """Begin verifying `files` if they are compressed (a CSV input of `columns` fields is
        also looked through for a quote never closed); remember them if Parquet; nothing to do
        for plain CSV."""
        if files.format == "parquet":
            self._parquet.append((files, access))
        if files.compression is None:
            return
        index = len(self._faults)
        self._faults.append(None)

        def verify() -> None:
            began = time.perf_counter()
            try:
                odd = verify_compressed(files, access, self._stop)
            except BaseException as err:  # handed to the waiting thread
                self._faults[index] = err
                return
            if odd and columns:
                self._odd.append((files, access, columns, odd))
            log.info("%s: %s data verified whole in %.2f s", files.source,
                     COMPRESSION_NAMES[files.compression], time.perf_counter() - began)  # fmt: skip

        thread = threading.Thread(target=verify, name=f"verify-{index}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self) -> None:
        """Wait for every verification; raise the first fault found (in the order started).
        Call it once the engine has read the inputs: they are then accepted as whole."""
        if (fault := self.fault()) is not None:
            raise fault
        for files, access, columns, odd in self._odd:
            scan = find_bad_line(files, columns, access, odd)
            if scan.bad is not None:
                raise InputError(scan.bad.message())
        self._accepted = True

    def fault(self) -> BaseException | None:
        """Wait for every verification; the first fault found, None when all were whole."""
        for thread in self._threads:
            thread.join()
        return next((err for err in self._faults if err is not None), None)

    def failure_cause(self) -> CorruptInputError | None:
        """After a failed read: the input found cut short or corrupt, None when every input is
        whole (the failure has another cause). Waits for the compressed verifications, then
        reads the Parquet inputs through. None once the inputs were accepted (`wait`): a later
        failure is not the inputs'."""
        if self._accepted:
            return None
        fault = self.fault()
        if fault is not None:
            return fault if isinstance(fault, CorruptInputError) else None
        for files, access in self._parquet:
            try:
                verify_parquet(files, access)
            except CorruptInputError as found:
                return found
            except OSError:
                continue  # unreadable now: the engine's own error says more
        return None

    def cancel(self) -> None:
        """Stop the verifications at their next chunk, without waiting."""
        self._stop.set()


@contextmanager
def checking_inputs() -> Iterator[InputCheck]:
    """An `InputCheck` for the block. When the block fails, an input found cut short or
    corrupt is raised instead of the block's error (which is only a symptom: a malformed last
    row, Python's EOFError while decompressing bzip2 for DuckDB, an engine's decoding error
    naming no file); an interrupt stops the verifications without waiting."""
    check = InputCheck()
    try:
        yield check
    except Exception as err:
        if (cause := check.failure_cause()) is not None:
            raise cause from err
        raise
    except BaseException:
        check.cancel()
        raise
    check.wait()
