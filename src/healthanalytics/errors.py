"""Turning an exception into the one line a user reads, and into the command's exit code."""

from __future__ import annotations

from enum import IntEnum

from pydantic import ValidationError

from healthanalytics.io.warehouse import mask_url


def first_line(text: str) -> str:
    """The first line of the text that is not blank, stripped ("" when none)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def error_line(err: BaseException) -> str:
    """The exception's type and the first line of its message that says something (matplotlib's
    start with a line break): one line for a log or a table's note."""
    return f"{type(err).__name__}: {first_line(str(err))}"


def user_error_message(err: BaseException) -> str:
    """One line naming what failed and what to do; passwords masked."""
    if isinstance(err, ValidationError):
        return "invalid settings: " + "; ".join(_problem(e) for e in err.errors())
    message = first_line(str(err)) or type(err).__name__
    module = type(err).__module__.split(".")[0]
    if module != "healthanalytics" and not isinstance(err, (OSError, ValueError)):
        message = f"{type(err).__name__}: {message} (run with -v for the traceback)"
    return mask_url(message)


def _problem(error: dict) -> str:
    """One validation error: the setting's name (none for a check across settings), then what
    is wrong, without pydantic's "Value error, " in front of our own messages."""
    message = error["msg"].removeprefix("Value error, ")
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {message}" if where else message


class ExitCode(IntEnum):
    """The exit codes of `healthanalytics run` (and the other commands), stable from release to
    release so a scheduler can tell a failure worth retrying from one a person must fix. The
    README's "Exit codes" table is this one; `retryable` is its "retry" column."""

    OK = 0  # the delivery is complete
    FAILED = 1  # an input or the run failed (a bad file, a database refusing rows, a bug)
    USAGE = 2  # the command line or a setting is wrong; nothing was run
    REFUSED = 3  # a guard refused the delivery: far fewer rows, a failed quality check
    BUSY = 4  # another run holds the output, warehouse or date, or published the date meanwhile
    UNAVAILABLE = 5  # S3 or the database could not be reached, past the request retries
    INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)

    @property
    def retryable(self) -> bool:
        """Whether running the same command again, unchanged, may succeed: the cause is another
        run or the network, not the data or the command (a run is idempotent per date)."""
        return self in (ExitCode.BUSY, ExitCode.UNAVAILABLE, ExitCode.INTERRUPTED)


def exit_code(err: BaseException) -> ExitCode:
    """The exit code of a run that failed with `err`: from its class, else from the class of
    the exception it was raised from, and so on (an EngineError raised from an S3 failure is
    UNAVAILABLE); FAILED when none is known."""
    from healthanalytics.io.files import StoreUnavailableError
    from healthanalytics.io.locks import RunLockError
    from healthanalytics.io.publish import StalePublishError
    from healthanalytics.io.warehouse.base import WarehouseUnavailableError
    from healthanalytics.quality import QualityCheckError
    from healthanalytics.stages.clean import DeliveryShrinkError

    codes: tuple[tuple[tuple[type[BaseException], ...], ExitCode], ...] = (
        ((KeyboardInterrupt,), ExitCode.INTERRUPTED),
        ((RunLockError, StalePublishError), ExitCode.BUSY),
        ((DeliveryShrinkError, QualityCheckError), ExitCode.REFUSED),
        ((StoreUnavailableError, WarehouseUnavailableError), ExitCode.UNAVAILABLE),
    )
    current: BaseException | None = err
    for _ in range(20):  # a cycle of causes is possible in principle
        if current is None:
            break
        for kinds, code in codes:
            if isinstance(current, kinds):
                return code
        current = current.__cause__
    return ExitCode.FAILED
