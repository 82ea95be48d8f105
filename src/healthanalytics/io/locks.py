"""Lock files that keep runs apart (fcntl.flock) and tell whether a run is still alive.

A flock belongs to an open file and dies with the process that holds it, SIGKILL included: a
lock file that can be locked means its last owner is gone.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

OUTPUT_LOCK = ".healthanalytics.lock"
_POLL_SECONDS = 0.2


class RunLockError(RuntimeError):
    """Another run holds what this run needs (an output folder, a warehouse, a delivery date)."""


def busy_message(holder: str, what: str, waited: float) -> str:
    """The one line a refused run prints: who holds what, and how to proceed."""
    after = f" after waiting {waited:g} s" if waited else ""
    return (
        f"{holder} is {what}{after}: wait for it to finish, or pass --lock-timeout SECONDS "
        "to let this run wait for it"
    )


def describe_owner(owner: Mapping[str, Any] | None) -> str:
    """`another run (pid 12 on host h)`, or `another run` when its owner is not known."""
    if not owner or owner.get("pid") is None:
        return "another run"
    return f"another run (pid {owner['pid']} on host {owner.get('host') or '?'})"


def take_lock(path: Path, timeout: float = 0) -> int | None:
    """An open descriptor of `path` (created when missing) holding its exclusive flock, or None
    when another process still holds it after `timeout` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                os.close(fd)
                return None
            time.sleep(min(_POLL_SECONDS, left))


def new_locked_file(path: Path) -> int:
    """A descriptor of a new lock file at `path` already locked when it appears under that
    name (made beside it, locked, then renamed), so nobody sees it unlocked in between."""
    draft = path.with_name(f"{path.name}.new-{os.getpid()}")
    fd = os.open(draft, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.rename(draft, path)
    return fd


def read_owner(path: Path) -> dict[str, Any] | None:
    """What the holder of a lock file wrote into it (None when unreadable or empty)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextmanager
def lock_output_folder(folder: str, owner: Mapping[str, Any], timeout: float) -> Iterator[None]:
    """Hold `folder`'s lock file (`.healthanalytics.lock`, made with the folder if missing) for
    the block, with `owner` (pid, host, run id) written in it for a refused run to name; a
    RunLockError when another run still holds it after `timeout` seconds."""
    path = Path(folder) / OUTPUT_LOCK
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = take_lock(path, timeout)
    except OSError as err:
        raise OSError(
            f"--output {folder}: cannot create its lock file {OUTPUT_LOCK} "
            f"({err.strerror or err}); give a folder this user can write to"
        ) from err
    if fd is None:
        holder = describe_owner(read_owner(path))
        raise RunLockError(busy_message(holder, f"using the output folder {folder}", timeout))
    try:
        data = json.dumps(dict(owner), default=str).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race a newcomer)
