"""Compressed inputs read to their end beside the engine: what is whole, what is cut or
corrupt, and which error a run then reports."""

from __future__ import annotations

import bz2
import gzip
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from healthanalytics.io.csv_lines import LONGEST_LINE
from healthanalytics.io.files import LOCAL_FILES
from healthanalytics.io.inputs import CorruptInputError, InputFiles
from healthanalytics.io.integrity import (
    InputCheck,
    checking_inputs,
    verify_compressed,
)

DATA = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(20_000))


def _input(tmp_path: Path, compression, *blobs: bytes) -> InputFiles:
    paths = []
    for index, blob in enumerate(blobs):
        path = tmp_path / f"part-{index}"
        path.write_bytes(blob)
        paths.append(str(path))
    return InputFiles(str(tmp_path), tuple(paths), "csv", compression, 0)


def _message(err: pytest.ExceptionInfo) -> str:
    return str(err.value)


@pytest.mark.parametrize(
    ("compression", "blob"),
    [
        ("gzip", gzip.compress(DATA)),
        ("gzip", gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:])),  # two members
        ("bz2", bz2.compress(DATA[:5]) + bz2.compress(DATA[5:])),  # two streams
        ("zstd", pa.compress(DATA, "zstd", asbytes=True)),
    ],
)
def test_whole_streams_pass(tmp_path, compression, blob):
    verify_compressed(_input(tmp_path, compression, blob), LOCAL_FILES)


@pytest.mark.parametrize(
    ("compression", "blob", "reason"),
    [
        ("gzip", gzip.compress(DATA)[:-1], None),  # the trailer's last byte missing
        ("bz2", bz2.compress(DATA)[:-100], None),
        ("zstd", pa.compress(DATA, "zstd", asbytes=True)[:-10], None),
        # bytes after the end that are not another stream
        ("gzip", gzip.compress(DATA) + b"garbage!", "zlib inflate failed: incorrect header check"),
        # a flipped bit in the stored length
        (
            "gzip",
            gzip.compress(DATA)[:-2] + bytes([gzip.compress(DATA)[-2] ^ 1]) + b"\x00",
            "zlib inflate failed: incorrect length check",
        ),
    ],
)
def test_cut_or_corrupt_streams_name_the_part(tmp_path, compression, blob, reason):
    # the good first part passes; the second is named
    kind = {"gzip": "gzip", "bz2": "bzip2", "zstd": "zstd"}[compression]
    good = {"gzip": gzip.compress, "bz2": bz2.compress}.get(
        compression, lambda d: pa.compress(d, "zstd", asbytes=True)
    )(DATA)
    files = _input(tmp_path, compression, good, blob)
    with pytest.raises(CorruptInputError) as caught:
        verify_compressed(files, LOCAL_FILES)
    part = tmp_path / "part-1"
    if reason is None:
        assert _message(caught) == (
            f"{part} is truncated or corrupt: its {kind} data ends before the end of the "
            "compressed stream (an interrupted download or copy?); download or copy the file again"
        )
    else:
        assert _message(caught) == (
            f"{part} is corrupt: its {kind} data cannot be decompressed ({reason}); download or "
            "copy the file again"
        )


def test_plain_input_is_not_read(tmp_path):
    # no compression: nothing to verify, the file is not even opened
    files = InputFiles(str(tmp_path), (str(tmp_path / "missing.csv"),), "csv", None, 0)
    verify_compressed(files, LOCAL_FILES)
    check = InputCheck()
    check.start(files, LOCAL_FILES)
    assert check.fault() is None


def test_stop_ends_a_verification_early(tmp_path):
    # a set stop event: the cut at the end is never reached
    stop = threading.Event()
    stop.set()
    verify_compressed(_input(tmp_path, "gzip", gzip.compress(DATA * 20)[:-1]), LOCAL_FILES, stop)


def test_check_waits_and_raises_the_first_fault_started(tmp_path):
    check = InputCheck()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    check.start(_input(tmp_path / "a", "gzip", gzip.compress(DATA)[:-1]), LOCAL_FILES)
    check.start(_input(tmp_path / "b", "bz2", bz2.compress(DATA)[:-1]), LOCAL_FILES)
    with pytest.raises(CorruptInputError) as caught:
        check.wait()
    assert _message(caught).startswith(f"{tmp_path / 'a' / 'part-0'} is truncated")


def test_block_error_gives_way_to_the_input_fault(tmp_path):
    # the engine's error (here a made-up malformed row) is only a symptom of the cut
    with pytest.raises(CorruptInputError) as caught, checking_inputs() as check:
        check.start(_input(tmp_path, "gzip", gzip.compress(DATA)[:-1]), LOCAL_FILES)
        raise ValueError("line 9: expected 2 columns, found 1")
    assert isinstance(caught.value.__cause__, ValueError)


def test_block_error_stays_when_the_inputs_are_whole(tmp_path):
    with pytest.raises(ValueError, match="line 9"), checking_inputs() as check:
        check.start(_input(tmp_path, "gzip", gzip.compress(DATA)), LOCAL_FILES)
        raise ValueError("line 9: expected 2 columns, found 1")


def test_block_that_succeeds_still_waits_for_the_verdict(tmp_path):
    # a block that never calls wait() is refused at its end
    with pytest.raises(CorruptInputError), checking_inputs() as check:
        check.start(_input(tmp_path, "zstd", pa.compress(DATA, "zstd", asbytes=True)[:-3]),
                    LOCAL_FILES)  # fmt: skip


def test_interrupt_stops_without_waiting(tmp_path):
    check_seen: list[InputCheck] = []
    with pytest.raises(KeyboardInterrupt), checking_inputs() as check:
        check_seen.append(check)
        check.start(_input(tmp_path, "gzip", gzip.compress(DATA)), LOCAL_FILES)
        raise KeyboardInterrupt
    assert check_seen[0]._stop.is_set()


def _parquet(tmp_path: Path, damaged: bool) -> InputFiles:
    import pyarrow.parquet as pq

    path = tmp_path / "part-0.parquet"
    # dictionary-encoded text: damaged indices cannot be decoded
    pq.write_table(pa.table({"a": [str(i % 97) for i in range(50_000)]}), path)
    if damaged:
        blob = path.read_bytes()
        middle = len(blob) // 2
        path.write_bytes(blob[:middle] + bytes(b ^ 0xFF for b in blob[middle : middle + 64])
                         + blob[middle + 64 :])  # fmt: skip
    return InputFiles(str(path), (str(path),), "parquet", None, 0)


def test_parquet_is_read_through_only_after_a_failure(tmp_path):
    # a damaged Parquet input: nothing to wait for while the block runs, named once it fails
    files = _parquet(tmp_path, damaged=True)
    with pytest.raises(CorruptInputError) as caught, checking_inputs() as check:
        check.start(files, LOCAL_FILES)
        assert check.fault() is None
        raise RuntimeError("the engine could not decode a page")
    assert _message(caught).startswith(
        f"{files.paths[0]} is corrupt: its Parquet data cannot be read ("
    )


def test_whole_parquet_leaves_the_failure_as_it_was(tmp_path):
    with pytest.raises(RuntimeError, match="out of memory"), checking_inputs() as check:
        check.start(_parquet(tmp_path, damaged=False), LOCAL_FILES)
        raise RuntimeError("out of memory")


def test_inputs_accepted_are_not_read_again_after_a_later_failure(tmp_path):
    # a failure after wait() (say, loading the warehouse) is not the inputs': no second read
    files = _parquet(tmp_path, damaged=True)
    with pytest.raises(RuntimeError, match="load failed"), checking_inputs() as check:
        check.start(files, LOCAL_FILES)
        check.wait()
        raise RuntimeError("load failed")


@pytest.mark.parametrize(
    ("data", "flagged"),
    [
        # a line as long as the limit across chunk ends, then one longer (CR-ended)
        (b"a,b\n" + b"x" * (LONGEST_LINE - 1) + b"\n1,2\n", False),
        (b"a,b\n" + b"x" * LONGEST_LINE + b"\r1,2\n", True),
        # the longest line last, without a line break
        (b"a,b\n1,2\n" + b"x" * LONGEST_LINE, True),
    ],
    ids=["within", "too-long", "too-long-last"],
)
def test_parts_with_a_line_too_long_are_returned(tmp_path, data, flagged):
    # Spark reads such a line in a file it reads whole; DuckDB refuses it: the part is looked
    # through like one holding a quote never closed
    files = _input(tmp_path, "gzip", gzip.compress(data))
    assert verify_compressed(files, LOCAL_FILES) == (list(files.paths) if flagged else [])
