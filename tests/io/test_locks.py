"""Lock files: a second holder is refused, naming the first; a dead holder's lock is free."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from healthanalytics.io.locks import RunLockError, lock_output_folder, take_lock

OWNER = {"run_id": "r1", "pid": 4242, "host": "etl-1"}


def test_a_second_holder_of_an_output_folder_is_refused_naming_the_first(tmp_path):
    folder = str(tmp_path / "out")
    with lock_output_folder(folder, OWNER, 0):
        with pytest.raises(RunLockError) as caught, lock_output_folder(folder, {}, 0.3):
            pass
        assert str(caught.value) == (
            f"another run (pid 4242 on host etl-1) is using the output folder {folder} after "
            "waiting 0.3 s: wait for it to finish, or pass --lock-timeout SECONDS to let this "
            "run wait for it"
        )
    with lock_output_folder(folder, {"pid": 1}, 0):  # released at the end of the block
        pass


def test_a_lock_held_by_a_killed_process_is_free(tmp_path):
    path = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        assert take_lock(path) is None
        holder.kill()
        holder.wait(10)
        fd = take_lock(path)
        assert fd is not None
        os.close(fd)
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdout.close()


def test_an_output_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "a_file").write_text("")
    folder = str(tmp_path / "a_file" / "out")
    with pytest.raises(OSError) as caught, lock_output_folder(folder, OWNER, 0):
        pass
    assert str(caught.value).startswith(f"--output {folder}: cannot create its lock file")
